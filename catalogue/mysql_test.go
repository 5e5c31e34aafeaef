package catalogue_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

var _ = register(libCase{
	name:   "go-sql-driver-mysql/DB connection",
	module: "github.com/go-sql-driver/mysql",
	start: func(t *testing.T, ctx context.Context) func() error {
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User = "tcp", fakeMySQL(t), "user"
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		if err := db.Ping(); err != nil { // leaves one idle connection
			t.Fatal(err)
		}
		return db.Close
	},
	want: map[string]int{
		"database/sql.(*DB).connectionOpener":                      1,
		"github.com/go-sql-driver/mysql.(*mysqlConn).startWatcher": 1,
	},
})

// fakeMySQL serves, outside the generation and until the test ends, just
// enough of the MySQL protocol for the driver to connect (handshake v10,
// no password) and ping: every command is answered with OK, COM_QUIT ends
// the connection.
func fakeMySQL(t *testing.T) (addr string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	outside(t, func() error {
		wg.Go(func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Go(func() {
					defer conn.Close()
					serveMySQL(conn)
				})
			}
		})
		return nil
	})
	return ln.Addr().String()
}

func serveMySQL(conn net.Conn) {
	const caps = 1 | 2 | 4 | 8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 // protocol 4.1, secure and plugin auth
	hs := []byte{10}
	hs = append(hs, "8.0.0-fake\x00"...)
	hs = binary.LittleEndian.AppendUint32(hs, 1) // connection id
	hs = append(hs, "abcdefgh"...)               // auth data, part 1
	hs = append(hs, 0)                           // filler
	hs = binary.LittleEndian.AppendUint16(hs, caps&0xffff)
	hs = append(hs, 0xff)                        // utf8mb4
	hs = binary.LittleEndian.AppendUint16(hs, 2) // autocommit
	hs = binary.LittleEndian.AppendUint16(hs, caps>>16)
	hs = append(hs, 21)                    // auth data length
	hs = append(hs, make([]byte, 10)...)   // reserved
	hs = append(hs, "ijklmnopqrst\x00"...) // auth data, part 2
	hs = append(hs, "mysql_native_password\x00"...)
	ok := []byte{0, 0, 0, 2, 0, 0, 0}
	if writePacket(conn, 0, hs) != nil {
		return
	}
	if _, _, err := readPacket(conn); err != nil { // the handshake response
		return
	}
	if writePacket(conn, 2, ok) != nil {
		return
	}
	for {
		seq, p, err := readPacket(conn)
		if err != nil || len(p) == 0 || p[0] == 1 { // COM_QUIT
			return
		}
		if writePacket(conn, seq+1, ok) != nil {
			return
		}
	}
}

func readPacket(r io.Reader) (seq byte, payload []byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err = io.ReadFull(r, payload)
	return h[3], payload, err
}

func writePacket(w io.Writer, seq byte, payload []byte) error {
	n := len(payload)
	_, err := w.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}
