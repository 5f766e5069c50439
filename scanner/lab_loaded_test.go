//go:build linux

package scanner

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// envBurn, set to a number of seconds, makes the test binary a CPU load
// process: it spins on one core for that long and exits.
const envBurn = "PORTSENSE_TEST_BURN"

// burnIfAsked spins and exits when the process is a load process.
func burnIfAsked() {
	v := os.Getenv(envBurn)
	if v == "" {
		return
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs <= 0 || secs > 600 {
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(time.Duration(secs) * time.Second)
	x := uint64(1)
	for time.Now().Before(end) {
		for range 1 << 16 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 42 {
		fmt.Println(x) // keep the loop from being optimised away
	}
	os.Exit(0)
}

// loadCPUs starts n processes that each keep one core busy, for at most
// limit (they exit on their own then, and die with the test process). They
// are stopped by PID when the test ends.
func loadCPUs(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	for range n {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envBurn, int(limit.Seconds())))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		pid := cmd.Process.Pid
		t.Cleanup(func() {
			syscall.Kill(pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
}

// TestLabLoadedMachine runs the lab's vertical connect and SYN scans while
// other processes keep every core busy (load average about CPUs+1): how
// busy the scanning machine is must not change a single verdict. Before
// the engine and the connect poller learnt to tell a stalled scanner from
// a silent port, closed ports came back filtered under such load.
func TestLabLoadedMachine(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	connectLayout.build(t, h)
	loadCPUs(t, max(runtime.NumCPU(), 2)+1, 3*time.Minute)
	time.Sleep(200 * time.Millisecond) // let the load processes get going
	t.Run("connect", func(t *testing.T) {
		got, st := scanLab(t, h.Addr4, WithTiming(T4))
		checkLayout(t, h.Addr4, connectLayout.want, got)
		t.Logf("connect under load: %d probes, %d retransmits, %d late, srtt %v, timeout %v, %v",
			st.Sent, st.Retransmits, st.Late, st.SRTT, st.Timeout, st.Elapsed)
	})
	t.Run("syn", func(t *testing.T) {
		got, st := synScan(t, target.NewHosts(h.Addr4), "1-65535", WithTiming(T4))
		checkSYNLayout(t, h.Addr4, got)
		t.Logf("SYN under load: %d probes, %d retransmits, %d late, srtt %v, timeout %v, %v",
			st.Sent, st.Retransmits, st.Late, st.SRTT, st.Timeout, st.Elapsed)
	})
}
