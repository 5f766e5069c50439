package scanner

import "time"

// Stats is a snapshot of a running or finished scan.
type Stats struct {
	Start       time.Time     // when the scan started
	Elapsed     time.Duration // time since Start (until the end, once finished)
	Total       uint64        // targets in this scan's shard, including those skipped by resume
	Done        uint64        // targets finished, including those skipped by resume
	Resumed     uint64        // targets skipped because a resumed scan started past them
	Sent        uint64        // probes sent, retransmissions included
	Retransmits uint64        // probes sent again after a timeout
	Replies     uint64        // replies matched to a target in flight
	Late        uint64        // replies for targets already finished (duplicates, late answers)
	Skipped     uint64        // targets not reported: host timed out, or prober skipped them
	InFlight    int           // targets with a probe outstanding or awaiting retransmission
	Window      int           // current congestion window
	Rate        float64       // probes per second recently; the whole scan's average once finished
	SRTT        time.Duration // smoothed round-trip time; 0 before the first sample
	Timeout     time.Duration // current probe timeout
	// Position is where a resumed scan should start (target.IterConfig.Start):
	// every target before it is finished.
	Position uint64
	Finished bool // the scan has ended

	// RateLimited counts UDP hosts found to rate-limit their ICMP errors;
	// their silent ports were retransmitted at the pace of their budget.
	RateLimited int
	// ICMPInterval is the longest time per ICMP error measured on such a host.
	ICMPInterval time.Duration
	// Paced counts probes sent at a host's ICMP pace: paced
	// retransmissions and the probes that measured the pace.
	Paced uint64
}

// Progress is the fraction of targets finished, from 0 to 1.
func (s Stats) Progress() float64 {
	if s.Total == 0 {
		return 1
	}
	return float64(s.Done) / float64(s.Total)
}

// ETA estimates the time left from the pace so far; 0 when unknown or done.
func (s Stats) ETA() time.Duration {
	done, total := s.Done-s.Resumed, s.Total-s.Resumed
	if done == 0 || done >= total || s.Elapsed <= 0 {
		return 0
	}
	return time.Duration(float64(s.Elapsed) * float64(total-done) / float64(done))
}
