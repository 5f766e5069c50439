package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-r", "a.pcap", "-i", "eth0"},
		{"-r", "a.pcap", "--block"},
		{"-i", "eth0", "--allow", "not-a-prefix"},
		{"-i", "eth0", "--ttl", "-1s"},
		{"-r", "a.pcap", "extra"},
		{"--bogus"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: reason is not one line: %q", args, err)
		}
	}
	o, err := parseFlags([]string{"-i", "eth0", "--block", "--allow", "198.18.1.0/24", "--allow", "2001:db8::1", "--ttl", "1h"})
	if err != nil || len(o.allow) != 2 || o.allow[1].Bits() != 128 || !o.block || o.ttl != time.Hour {
		t.Fatalf("%+v %v", o, err)
	}
}

// A vertical SYN scan of closed ports in a pcap comes out as one JSON line.
func TestPcapScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	scanner, victim := net.IP{198, 18, 0, 66}, net.IP{198, 18, 0, 2}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(ts time.Time, src, dst net.IP, tcp *layers.TCP) {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes())
	}
	for i := range 50 {
		ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		port := layers.TCPPort(1000 + i*7)
		write(ts, scanner, victim, &layers.TCP{SrcPort: 40000, DstPort: port, SYN: true, Seq: uint32(i), DataOffset: 5})
		write(ts.Add(time.Millisecond), victim, scanner, &layers.TCP{SrcPort: port, DstPort: 40000, RST: true, ACK: true, Ack: uint32(i + 1), DataOffset: 5})
	}
	f.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), options{file: path, stats: true}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no events; stderr %s", errOut.String())
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	for _, k := range []string{"kind", "detector", "source", "shape", "scan_type", "hosts", "ports", "attempts", "time"} {
		if _, ok := e[k]; !ok {
			t.Errorf("field %q missing in %s", k, lines[0])
		}
	}
	if e["kind"] != "scan" || e["source"] != "198.18.0.66" || e["shape"] != "vertical" {
		t.Errorf("event %s", lines[0])
	}
	if !strings.HasPrefix(errOut.String(), "packets 100 observations 100") {
		t.Errorf("stats %q", errOut.String())
	}
	t.Logf("%s", out.String())
}

// truncatedCapture writes a real capture from the eval corpus (nmap and
// benign clients in the netns lab), cut in the middle of a packet record at
// about frac of its length, and the same capture cut cleanly before that
// record.
func truncatedCapture(t *testing.T, frac float64) (cut, clean string) {
	t.Helper()
	f, err := os.Open("../../detect/eval/testdata/corpus/fast.pcap.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// Walk the records to the one holding the cut and cut inside it.
	off := 24
	for off+16 < len(b) {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if float64(off+16+n) > frac*float64(len(b)) {
			break
		}
		off += 16 + n
	}
	n := int(binary.LittleEndian.Uint32(b[off+8:]))
	dir := t.TempDir()
	cut, clean = filepath.Join(dir, "cut.pcap"), filepath.Join(dir, "clean.pcap")
	if err := os.WriteFile(cut, b[:off+16+n/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clean, b[:off], 0o644); err != nil {
		t.Fatal(err)
	}
	return cut, clean
}

// A truncated capture: the events found before the cut are printed, then
// run fails with the source's error, named once ("detect: " not doubled).
func TestTruncatedCapture(t *testing.T) {
	path, clean := truncatedCapture(t, 0.6)
	var want bytes.Buffer
	if err := run(context.Background(), options{file: clean}, &want, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), options{file: path}, &out, &errOut)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("run: %v, want an error wrapping io.ErrUnexpectedEOF", err)
	}
	msg := message(err)
	if strings.Count(msg, "detect:") != 1 {
		t.Errorf("message %q: want one \"detect:\"", msg)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	scans := 0
	for _, l := range lines {
		var e struct{ Kind string }
		if json.Unmarshal([]byte(l), &e) == nil && e.Kind == "scan" {
			scans++
		}
	}
	if scans < 3 || out.String() != want.String() {
		t.Fatalf("printed before the cut:\n%s\nwant what the same packets give without the cut:\n%s", out.String(), want.String())
	}
	t.Logf("%d scan events before the cut; error: %s", scans, msg)
}

func TestPositionalFileHint(t *testing.T) {
	_, err := parseFlags([]string{"/tmp/capture.pcap"})
	if err == nil || !strings.Contains(err.Error(), "-r /tmp/capture.pcap") {
		t.Errorf("%v: want a hint to use -r", err)
	}
}
