package scanner

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// lossNet answers like fakeNet's labState, at once (patternNet, inside
// Send), except for the replies lost(port, try) says are lost: a loss
// pattern that does not depend on the order or timing of sends, so a
// scan's verdicts do not depend on the scheduler.
func lossNet(lost func(port uint16, try int) bool) *patternNet {
	return &patternNet{state: labState, answer: func(t target.Target, try int) bool { return !lost(t.Port.Num, try) }}
}

// hashLoss loses a reply with probability p, as a fixed function of the
// port and try.
func hashLoss(seed maphash.Seed, p float64) func(uint16, int) bool {
	return func(port uint16, try int) bool {
		var b [10]byte
		binary.LittleEndian.PutUint16(b[:], port)
		binary.LittleEndian.PutUint64(b[2:], uint64(try))
		return float64(maphash.Bytes(seed, b[:])>>11)/(1<<53) < p
	}
}

// At default timing a port that loses more replies in a row than any
// other port so far must still get its answer: 10 % of replies are lost
// (never more than two in a row), and port 1002 loses its first four.
// Retries learned from the ports seen ("one more than any port needed":
// at most 4 tries here) called port 1002 filtered; the loss seen (about
// 10 %) calls for at least 6 tries in a scan of 3,000 ports.
func TestScanLossTriesBeyondMaxSuccess(t *testing.T) {
	const unlucky = 1002
	require.Equal(t, result.Closed, labState(target.Target{Port: target.Port{Proto: target.TCP, Num: unlucky}}))
	loss := hashLoss(maphash.MakeSeed(), 0.10)
	pattern := func(port uint16, try int) bool {
		if port == unlucky {
			return try < 4
		}
		// At most two in a row, so no other port needs more than 3 tries.
		return loss(port, try) && (try < 2 || !loss(port, try-1) || !loss(port, try-2))
	}
	for _, lossy := range []bool{true, false} {
		net := lossNet(pattern)
		if !lossy {
			net = lossNet(func(uint16, int) bool { return false })
		}
		sp := space(t, "198.18.0.1", "1-3000")
		s, err := New(net, WithRTTTimeouts(0, 5*time.Millisecond, 0))
		require.NoError(t, err)
		sc, err := s.Start(context.Background(), sp)
		require.NoError(t, err)
		got := collect(t, sc)
		require.NoError(t, sc.Wait())
		checkExact(t, sp, got)
		r := got[target.Target{Addr: sp.Hosts().At(0), Port: target.Port{Proto: target.TCP, Num: unlucky}}]
		filteredTries := map[int]int{}
		for tg, r := range got {
			if labState(tg) == result.Filtered {
				filteredTries[r.Tries]++
			}
		}
		t.Logf("lossy %v: %d sent, %d retransmits; port %d: %v after %d tries; filtered ports by tries: %v",
			lossy, net.sent.Load(), sc.Stats().Retransmits, unlucky, r.State, r.Tries, filteredTries)
		if lossy {
			assert.Equal(t, 5, r.Tries, "port %d answers its fifth try", unlucky)
		} else {
			// No loss seen: silent ports keep the retries of a clean network.
			assert.Equal(t, map[int]int{2: 427}, filteredTries)
		}
	}
}

// Steady link loss must not shrink the congestion window to nothing. A
// reply to a retransmission proves the try before it was lost; that loss
// calls for a smaller window only if that try was sent after the window
// last shrank (once per loss event, as in TCP). Counting it when the
// answered retransmission was sent after the last shrink let a window
// busy with retransmissions shrink again on nearly every such reply: the
// window fell to a few probes and a lossy scan crawled (the bench's 65,535
// ports at 5 % loss took ~60 s). Here, 3,000 ports at 5 % loss: the final
// window was 1-100 (median 23 of 9 runs, ~10 s a run) with that rule and
// 375-750 with this one (~0.15 s a run, with -race too); the median of
// three runs must be at least 200.
func TestScanWindowUnderSteadyLoss(t *testing.T) {
	var windows []int
	for i := range 3 {
		net := lossNet(hashLoss(maphash.MakeSeed(), 0.05))
		sp := space(t, "198.18.0.1", "1-3000")
		s, err := New(net, WithRTTTimeouts(0, 20*time.Millisecond, 0))
		require.NoError(t, err)
		sc, err := s.Start(context.Background(), sp)
		require.NoError(t, err)
		got := collect(t, sc)
		require.NoError(t, sc.Wait())
		checkExact(t, sp, got)
		st := sc.Stats()
		t.Logf("run %d: window %d, %d sent, %d retransmits", i, st.Window, st.Sent, st.Retransmits)
		windows = append(windows, st.Window)
	}
	slices.Sort(windows)
	assert.GreaterOrEqual(t, windows[1], 200, "median final window of 3 lossy scans (%v)", windows)
}

// The retries lossTries asks for, as a function of the loss seen.
func TestLossTriesRetries(t *testing.T) {
	// sparse: one finished target in sparse answers (the rest are dark).
	feedSparse := func(targets uint64, p float64, answers, sparse int) lossTries {
		l := newLossTries(targets)
		lost := hashLoss(maphash.MakeSeed(), p)
		for i := range answers {
			silent := 0
			for silent < 20 && lost(uint16(i), silent) {
				silent++
			}
			l.answer(silent, uint64((i+1)*sparse))
		}
		return l
	}
	feed := func(targets uint64, p float64, answers int) lossTries {
		return feedSparse(targets, p, answers, 1)
	}
	assert.Zero(t, feed(65535, 0, 10000).retries, "no loss seen: nothing added")
	// 5 % loss, 65,535 targets: 65,535 · 0.05^6 ≈ 0.001 ≤ 0.01 < 65,535 · 0.05^5,
	// so 6 tries; the estimate from ~1,024 answers varies by a try.
	assert.InDelta(t, 5, feed(65535, 0.05, 20000).retries, 1)
	// More targets, or more loss, call for more tries.
	assert.Greater(t, feed(1<<24, 0.05, 20000).retries, 5)
	assert.Greater(t, feed(65535, 0.2, 20000).retries, 5)
	// Only targets that answer can be misjudged: a sweep of 2^24 targets
	// of which one in a thousand answers needs the tries of ~16,800.
	dense, sparse := feed(1<<24, 0.05, 20000).retries, feedSparse(1<<24, 0.05, 20000, 1000).retries
	assert.Less(t, sparse, dense)
	assert.InDelta(t, feed(1<<24/1000, 0.05, 20000).retries, sparse, 1)
	// One early loss among few answers errs high.
	l := newLossTries(65535)
	for i := range 20 {
		l.answer(0, uint64(i+1))
	}
	l.answer(1, 21)
	assert.GreaterOrEqual(t, l.retries, 5)
}
