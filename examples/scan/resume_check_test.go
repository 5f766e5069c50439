package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An unwritable resume path fails before any probe, naming the path the
// user gave (not a temp file next to it).
func TestResumeUnwritableUpFront(t *testing.T) {
	closed := closedPorts(t, 5)
	// A directory that does not exist: reading finds no saved scan, and
	// writing cannot work, even for root.
	state := filepath.Join(t.TempDir(), "missing", "state.json")
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList(closed), "--resume", state, "-oJ", "-", "127.0.0.1")
	assert.Equal(t, 1, code, stderr)
	assert.Empty(t, stdout, "the scan ran before the resume path was checked")
	assert.Contains(t, stderr, "writing resume file "+state)
	assert.NotContains(t, stderr, ".resume-")
}

// A resume path that does not exist yet is created, and the run says so.
func TestResumeNewFileSaysSo(t *testing.T) {
	closed := closedPorts(t, 3)
	state := filepath.Join(t.TempDir(), "state.json")
	code, _, stderr := runScan(t, t.Context(), "-sT", "-p", portList(closed), "--resume", state, "-oJ", "-", "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, state+": no saved scan there; starting a new scan")
	st, err := loadResume(state)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	// The next run finds it finished and says how to scan again.
	code, _, stderr = runScan(t, t.Context(), "-sT", "--resume", state, "-oJ", "-")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "remove the file to scan again")
	assert.NotContains(t, stderr, "no saved scan")
}
