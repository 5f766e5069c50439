package scanner

// fifo is a queue of entries in send order. Since every probe of a scan
// waits the same timeout, send order is deadline order, and a queue does
// the work of a heap. Items are removed lazily: a finished entry's item
// goes stale through its generation number.
type fifo struct {
	items []queued
	head  int
}

func (f *fifo) push(q queued) {
	if f.head > 0 && f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		f.items, f.head = f.items[:n], 0
	}
	f.items = append(f.items, q)
}

func (f *fifo) peek() (queued, bool) {
	if f.head == len(f.items) {
		return queued{}, false
	}
	return f.items[f.head], true
}

func (f *fifo) pop() (queued, bool) {
	q, ok := f.peek()
	if ok {
		f.items[f.head] = queued{}
		f.head++
	}
	return q, ok
}
