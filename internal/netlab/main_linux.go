package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Main runs the tests of m; call it from TestMain:
//
//	func TestMain(m *testing.M) { netlab.Main(m) }
//
// As root it re-executes the test binary with the same arguments and
// environment in a fresh network namespace (only loopback, up; no routes
// out), passes stdin, stdout and stderr through, forwards SIGINT, SIGTERM,
// SIGHUP and SIGQUIT, and exits with the child's status. In that child, and
// when not root, it runs m.Run and exits with its code. Main does not return.
func Main(m *testing.M) {
	if parent, ok := os.LookupEnv(envChild); ok {
		if err := enterChild(parent); err != nil {
			os.Setenv(envUnavailable, err.Error())
			fmt.Fprintf(os.Stderr, "netlab: %v\n", err)
		}
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	code, err := reexec()
	if err != nil {
		// Fall back to running here; New will skip (or fail) with the reason.
		fmt.Fprintf(os.Stderr, "netlab: lab unavailable: %v\n", err)
		os.Setenv(envUnavailable, err.Error())
		os.Exit(m.Run())
	}
	os.Exit(code)
}

// netnsID names the network namespace of the calling thread ("net:[4026531840]").
func netnsID() (string, error) {
	return os.Readlink("/proc/thread-self/ns/net")
}

// reexec runs this test binary again in a new network namespace and returns
// its exit code. A non-nil error means the child could not be started.
func reexec() (int, error) {
	// Pdeathsig is tied to the thread that forks: keep this goroutine on it
	// until the child is gone, so the child dies with us and only with us.
	runtime.LockOSThread()
	id, err := netnsID()
	if err != nil {
		return 0, fmt.Errorf("read own network namespace: %w", err)
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), envChild+"="+id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("re-execute test binary in a new network namespace: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 1, nil
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		fmt.Fprintf(os.Stderr, "netlab: test process killed by %v\n", ws.Signal())
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}

// enterChild prepares the re-executed process: it checks that it really is
// in a namespace of its own and brings loopback up.
func enterChild(parent string) error {
	id, err := netnsID()
	if err != nil {
		return fmt.Errorf("read own network namespace: %w", err)
	}
	if id == parent || parent == "" {
		return fmt.Errorf("%s is set but the process shares its parent's network namespace %s", envChild, id)
	}
	if err := linkUp("lo"); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	// Lab links appear and are used at once: no duplicate address detection
	// on the scanner side (the host side is set per namespace).
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/all/accept_dad", []byte("0"), 0)
	return nil
}

// linkUp sets IFF_UP on the named interface.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// Available reports whether lab tests can run in this process, and if not, why.
// They can when the process is root on Linux, runs in the namespace Main made
// for it, that namespace has no default route, and ip and nft are installed.
func Available() (ok bool, why string) {
	ok, why, _ = available()
	return ok, why
}

// available is Available plus whether the failure is a programming error
// (root but Main not used), which fails tests even without EnvRequired.
func available() (ok bool, why string, misuse bool) {
	if os.Geteuid() != 0 {
		return false, "needs root", false
	}
	parent, child := os.LookupEnv(envChild)
	if child {
		// The namespace check comes first: sharing the parent's namespace
		// would put lab routes into the machine's own.
		if id, err := netnsID(); err != nil || id == parent {
			return false, "not in a private network namespace (netns " + id + "); " +
				envChild + " must only be set by netlab.Main", true
		}
	}
	if r := os.Getenv(envUnavailable); r != "" {
		return false, r, false
	}
	if !child {
		return false, "running as root outside netlab.Main's network namespace; " +
			"add func TestMain(m *testing.M) { netlab.Main(m) } to this package's tests", true
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, tool + " not installed", false
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", fam, "route", "show", "default").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("ip %s route show default: %v: %s", fam, err, out), false
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			return false, "scanner namespace has a default route (" + s + "); refusing to run", true
		}
	}
	return true, "", false
}
