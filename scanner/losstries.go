package scanner

import "math"

// How many tries a silent target gets, from the loss the scan has seen.
//
// A target that answers is called filtered (or open|filtered) only if
// every one of its tries met silence. With independent loss p on each
// try, a target given a tries is misjudged with probability p^a, so a scan
// in which N targets would answer expects about N·p^a wrong verdicts (a
// target that never answers cannot be misjudged by loss). nmap's rule, one more
// retransmission than any target has needed so far (engine.maxSuccess),
// learns a from the few targets that happened to need many tries: at 5 %
// loss a scan of 65,535 ports runs with 2 to 4 tries until the unlucky
// targets that raise it have been seen, and the few targets unlucky in that
// time came out filtered (the bench's "5 % reply loss, default timing"
// workload: about one wrong port in two runs).
//
// lossTries estimates p from the answered targets instead: each answered
// target contributes the tries that met silence before its answer (losses)
// and the one answered (a success). The estimate (losses+1)/(tries+1) errs
// high while the evidence is thin; the counts decay over about 1,024
// answers, so the estimate follows a link whose loss changes. Tries are
// then the fewest a with N·p^a ≤ lossBudget, N being the scan's targets
// times the share of finished targets that answered (so a sparse sweep of
// a large space is not given tries for targets that are dark). Until a
// target has needed a
// retransmission the rule adds nothing: a scan of a clean network (or of a
// host that answers nothing) keeps the retries of the other rules.
type lossTries struct {
	lost, answered float64 // decayed counts of silent tries before an answer, and of answers
	seen           bool    // a target has needed a retransmission
	targets        float64 // targets of the scan
	answers        float64 // answers so far (not decayed)
	retries        int     // the retries the estimate calls for
}

// lossBudget is the expected number of wrong verdicts a scan may have
// from loss alone, at the estimated loss.
const lossBudget = 0.01

// lossDecay is the weight an answer keeps per later answer.
const lossDecay = 1 - 1.0/1024

func newLossTries(targets uint64) lossTries {
	return lossTries{targets: float64(max(targets, 1))}
}

// answer notes a target answered after silent tries that met silence
// (its earlier tries, whether their replies were lost or only late);
// finished is how many targets have a verdict, this one included.
func (l *lossTries) answer(silent int, finished uint64) {
	l.lost = l.lost*lossDecay + float64(max(silent, 0))
	l.answered = l.answered*lossDecay + 1
	l.answers++
	if silent > 0 {
		l.seen = true
	}
	if !l.seen {
		return
	}
	p := (l.lost + 1) / (l.lost + l.answered + 1)
	// Targets that would answer: answers are finished sooner than
	// silences, so early in a scan the share errs high, as it should.
	n := max(l.targets*min(l.answers/float64(max(finished, 1)), 1), 1)
	// Tries a with p^a ≤ budget/N: a ≥ ln(budget/N) / ln p.
	l.retries = max(int(math.Ceil(math.Log(lossBudget/n)/math.Log(p)))-1, 0)
}
