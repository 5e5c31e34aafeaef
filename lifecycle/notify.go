package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// extendEvery is how often the termination sequence tells systemd that it
// is still making progress (EXTEND_TIMEOUT_USEC), each time granting
// itself twice that, never past its own deadline plus a second.
const extendEvery = 5 * time.Second

// A notifier sends the service manager's notifications (sd_notify(3)) to
// the datagram socket that systemd names in $NOTIFY_SOCKET: READY=1,
// RELOADING=1, STOPPING=1, EXTEND_TIMEOUT_USEC. A nil notifier sends
// nothing, as when the process was not started by systemd.
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier returns the notifier of $NOTIFY_SOCKET, nil if it is unset
// or empty. A name starting with '@' is an abstract socket (Linux), as
// systemd writes it; the net package reads it so too.
func newNotifier() (*notifier, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil, nil
	}
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		// vsock:... and relative paths: not a socket this package speaks.
		return nil, fmt.Errorf("lifecycle: NOTIFY_SOCKET=%q: not a path or an abstract socket name; nothing will be sent to the service manager", name)
	}
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}, nil
}

// send sends one datagram holding the lines of state, as sd_notify does:
// several assignments in one message take effect together.
func (n *notifier) send(state ...string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("lifecycle: notify %s: %w", n.addr.Name, err)
	}
	_, err = c.Write([]byte(strings.Join(state, "\n") + "\n"))
	return errors.Join(err, c.Close())
}

// reloading is the one datagram that starts a reload under
// Type=notify-reload: RELOADING=1 with the monotonic clock's reading, as
// systemd 253 and later require (two datagrams get the service killed).
func reloading() []string {
	return []string{"RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", monotonicUsec())}
}

// extendTimeout is the EXTEND_TIMEOUT_USEC line granting d more.
func extendTimeout(d time.Duration) string {
	return fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds())
}
