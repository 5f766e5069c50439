package netlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/afpacket"
)

// The delay bridge replaces tc netem, which many kernels (and CI's) lack. A
// host with Delay or Jitter is joined to the scanner through a third
// namespace, the wire, holding two veth ends and no addresses:
//
//	scanner ns: Ifname <-> wire ns: w0 [bridge] w1 <-> host ns: hostIf
//
// Two AF_PACKET sockets in the wire copy every frame from one end to the
// other after Delay ± Jitter. The bridge is used on every kernel, netem or
// not, so that delayed labs behave the same on a laptop and in CI.
//
// The sockets use PACKET_VNET_HDR: each frame carries the kernel's checksum
// and segmentation offload state across the bridge, as a veth pair would
// itself. Without it TCP segments from the lab's stacks (checksum left to
// the "hardware", 64 KiB GSO super-frames) would arrive broken.

const (
	wireScanner = "w0" // wire end of the scanner's veth
	wireHost    = "w1" // wire end of the host's veth

	// bridgeMaxFrames and bridgeMaxBytes bound each direction's queue;
	// frames beyond them are dropped and counted.
	bridgeMaxFrames = 1 << 20
	bridgeMaxBytes  = 256 << 20
	// bridgeSockBuf is the socket buffer size: a scan's burst must fit
	// while the reader goroutine waits for a CPU.
	bridgeSockBuf = 64 << 20
	// bridgeReadBuf holds one frame with its virtio header, GSO included.
	bridgeReadBuf = 256 << 10
	// bridgeBatch is how many frames one recvmmsg reads.
	bridgeBatch = 8
	// bridgeChunk is the size of the blocks queued frames are copied into:
	// one allocation per many frames.
	bridgeChunk = 1 << 20
)

// BridgeStats reports the delay bridge's counters (zero without a bridge).
func (h *Host) BridgeStats() BridgeStats {
	h.impl.mu.Lock()
	b := h.impl.bridge
	h.impl.mu.Unlock()
	if b == nil {
		return BridgeStats{}
	}
	var s BridgeStats
	for _, d := range b.dirs {
		s.Forwarded += d.forwarded.Load()
		s.Dropped += d.dropped.Load()
		s.SendErrors += d.sendErrors.Load()
		s.MaxQueued = max(s.MaxQueued, int(d.maxQueued.Load()))
	}
	s.SocketDrops = b.socketDrops()
	return s
}

// bridge is the running delay line of one host.
type bridge struct {
	conns [2]*afpacket.Conn // sockets bound to w0 and w1
	dirs  [2]*bridgeDir     // scanner→host, host→scanner
	done  chan struct{}     // closed by stop
	wg    sync.WaitGroup    // reader and scheduler goroutines
	once  sync.Once
}

// socketDrops returns the sockets' kernel drop counters (no lock: afpacket
// accumulates them atomically). After stop the total is final.
func (b *bridge) socketDrops() uint64 {
	var n uint64
	for _, c := range b.conns {
		st, _ := c.Stats()
		n += st.Drops
	}
	return n
}

// bridgeDir is one direction: frames read from in, sent on out after delay.
type bridgeDir struct {
	in, out       *afpacket.Conn
	delay, jitter time.Duration
	rng           *rand.Rand // reader goroutine only
	base          time.Time  // due times are nanoseconds since base

	mu    sync.Mutex
	q     frameHeap
	bytes int
	seq   uint64
	wake  chan struct{} // capacity 1: the queue's head changed

	forwarded, dropped, sendErrors atomic.Uint64
	maxQueued                      atomic.Int64
}

// startBridge opens the sockets in the wire namespace and starts copying.
// Delay applies host→scanner, and scanner→host too with both.
func startBridge(wire string, delay, jitter time.Duration, both bool, seed uint64) (*bridge, error) {
	b := &bridge{done: make(chan struct{})}
	err := doNetns(wire, func() error {
		for i, name := range []string{wireScanner, wireHost} {
			c, err := openBridgeSocket(name)
			if err != nil {
				return err
			}
			b.conns[i] = c
		}
		return nil
	})
	if err != nil {
		for _, c := range b.conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	base := time.Now()
	up := &bridgeDir{in: b.conns[0], out: b.conns[1], base: base, wake: make(chan struct{}, 1),
		rng: rand.New(rand.NewPCG(seed, 1))}
	down := &bridgeDir{in: b.conns[1], out: b.conns[0], delay: delay, jitter: jitter, base: base,
		wake: make(chan struct{}, 1), rng: rand.New(rand.NewPCG(seed, 2))}
	if both {
		up.delay, up.jitter = delay, jitter
	}
	b.dirs = [2]*bridgeDir{up, down}
	for _, d := range b.dirs {
		b.wg.Go(func() { d.read() })
		if d.delay > 0 || d.jitter > 0 {
			b.wg.Go(func() { d.schedule(b.done) })
		}
	}
	return b, nil
}

// stop closes the sockets, which ends the readers, ends the schedulers and
// waits for all of them.
func (b *bridge) stop() {
	b.once.Do(func() {
		close(b.done)
		for _, c := range b.conns {
			c.Close() // keeps the last counts for socketDrops
		}
		b.wg.Wait()
	})
}

// openBridgeSocket opens an AF_PACKET socket bound to the named interface
// of the calling thread's namespace, promiscuous, with virtio headers,
// large buffers, and its own transmissions not looped back.
func openBridgeSocket(name string) (*afpacket.Conn, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	c, err := afpacket.Listen(ifi, afpacket.Raw, afpacket.ProtoAll, &afpacket.Config{
		VnetHdr:        true,
		IgnoreOutgoing: true, // frames the bridge sends must not be read back on the same end
		Promiscuous:    true,
		ReadBuffer:     bridgeSockBuf,
		WriteBuffer:    bridgeSockBuf,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge socket on %s: %w", name, err)
	}
	return c, nil
}

// read copies frames from d.in: straight out when d has no delay, into the
// delay queue otherwise. It returns when d.in is closed.
func (d *bridgeDir) read() {
	br, err := d.in.NewBatchReader(bridgeBatch, bridgeReadBuf)
	if err != nil {
		return
	}
	var chunk []byte
	delayed := d.delay > 0 || d.jitter > 0
	for {
		pkts, err := br.Read()
		if err != nil {
			switch {
			case errors.Is(err, unix.ENETDOWN), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
				continue // transient
			}
			return // closed, or the socket is unusable: stats show forwarding stopped
		}
		for _, p := range pkts {
			n := len(p.Data)
			if p.Len > n {
				d.dropped.Add(1) // truncated: larger than a GSO frame
				continue
			}
			if !delayed {
				d.send(p.Data)
				continue
			}
			if len(chunk) < n {
				chunk = make([]byte, max(bridgeChunk, n))
			}
			f := chunk[:n:n]
			chunk = chunk[n:]
			copy(f, p.Data)
			d.push(f)
		}
	}
}

// push queues frame f with its due time; full queues drop it.
func (d *bridgeDir) push(f []byte) {
	wait := d.delay
	if d.jitter > 0 {
		wait += time.Duration(d.rng.Int64N(2*int64(d.jitter)+1)) - d.jitter
	}
	due := int64(time.Since(d.base) + max(wait, 0))
	d.mu.Lock()
	if len(d.q) >= bridgeMaxFrames || d.bytes+len(f) > bridgeMaxBytes {
		d.mu.Unlock()
		d.dropped.Add(1)
		return
	}
	d.seq++
	d.q.push(queued{due: due, seq: d.seq, b: f})
	d.bytes += len(f)
	head := d.q[0].seq == d.seq
	if n := int64(len(d.q)); n > d.maxQueued.Load() {
		d.maxQueued.Store(n) // only this goroutine stores
	}
	d.mu.Unlock()
	if head {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// schedule sends queued frames when they fall due, until done is closed.
// One goroutine and one timer per direction, whatever the frame rate.
func (d *bridgeDir) schedule(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var batch [][]byte
	for {
		now := int64(time.Since(d.base))
		batch = batch[:0]
		wait := time.Duration(-1)
		d.mu.Lock()
		for len(d.q) > 0 && d.q[0].due <= now {
			f := d.q.pop()
			d.bytes -= len(f.b)
			batch = append(batch, f.b)
		}
		if len(d.q) > 0 {
			wait = time.Duration(d.q[0].due - now)
		}
		d.mu.Unlock()
		for i, f := range batch {
			d.send(f)
			batch[i] = nil // let the chunk go
		}
		if len(batch) > 0 {
			continue // sending took time: look again before sleeping
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-d.wake:
			timer.Stop()
		case <-done:
			return
		}
	}
}

// send writes one frame (virtio header included) to d.out, waiting in the
// poller while the socket buffer is full.
func (d *bridgeDir) send(f []byte) {
	if _, err := d.out.Write(f); err != nil {
		d.sendErrors.Add(1)
		return
	}
	d.forwarded.Add(1)
}

// queued is a frame waiting in a delay queue.
type queued struct {
	due int64 // nanoseconds since the direction's base time
	seq uint64
	b   []byte
}

// frameHeap is a min-heap on (due, seq): equal due times leave in arrival order.
type frameHeap []queued

func (h frameHeap) less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].seq < h[j].seq
}

func (h *frameHeap) push(f queued) {
	*h = append(*h, f)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *frameHeap) pop() queued {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = queued{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q.less(l, m) {
			m = l
		}
		if r < len(q) && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
