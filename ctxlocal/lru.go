package ctxlocal

// entry is one key/value pair of a Cache. prev and next link it into the
// cache's recency list when the cache is bounded; all fields are guarded by
// the cache's mutex.
type entry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *entry[K, V]
}

// lruList is a doubly linked list of entries, most recently used at front.
// The zero value is an empty list. It is not safe for concurrent use; the
// Cache that owns it guards it with its mutex.
type lruList[K comparable, V any] struct {
	front, back *entry[K, V]
}

func (l *lruList[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = nil, l.front
	if l.front != nil {
		l.front.prev = e
	} else {
		l.back = e
	}
	l.front = e
}

func (l *lruList[K, V]) remove(e *entry[K, V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.front = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.back = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *lruList[K, V]) moveToFront(e *entry[K, V]) {
	if l.front == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}
