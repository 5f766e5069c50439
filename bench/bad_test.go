//go:build benchcompare && linux

package bench

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// logBad logs the disagreements of one of our runs and the output lines of
// their ports (tries, reason, RTT), so that a wrong verdict can be traced
// after the run's directory is gone.
func logBad(logf func(string, ...any), out string, bad []string) {
	var want []string
	for _, b := range bad {
		ap, _, _ := strings.Cut(b, " ")
		if i := strings.LastIndexByte(ap, ':'); i > 0 {
			want = append(want, fmt.Sprintf(`"addr":%q,"port":%s,`, ap[:i], ap[i+1:]))
		}
	}
	var lines []string
	if f, err := os.Open(out); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			for _, w := range want {
				if strings.Contains(sc.Text(), w) {
					lines = append(lines, sc.Text())
				}
			}
		}
		f.Close()
	}
	logf("wrong: %s\n%s", strings.Join(bad, "; "), strings.Join(lines, "\n"))
}
