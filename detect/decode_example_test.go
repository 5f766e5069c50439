package detect_test

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/portsense/portsense/detect"
)

func ExampleDecoder() {
	// An IPv4 TCP SYN from 198.18.0.1:40000 to 198.18.0.2:22, as a raw IP
	// capture (LINKTYPE_RAW) would hold it.
	pkt, _ := hex.DecodeString("45000028000100004006eea7c6120001c6120002" +
		"9c40001600000000000000005002040083640000")
	var o detect.Observation
	err := detect.Decoder{}.Decode(pkt, time.Unix(0, 0), &o) // the zero Decoder reads raw IP
	fmt.Println(err)
	fmt.Println(o.Proto, o.Src, o.SrcPort, "->", o.Dst, o.DstPort, "ttl", o.TTL, "syn:", o.Flags == detect.SYN)
	// Output:
	// <nil>
	// tcp 198.18.0.1 40000 -> 198.18.0.2 22 ttl 64 syn: true
}

func ExampleNewDecoder() {
	// The same SYN in an Ethernet frame, as most pcap files hold it.
	frame, _ := hex.DecodeString("020000000002020000000001" + "0800" +
		"45000028000100004006eea7c6120001c6120002" +
		"9c40001600000000000000005002040083640000")
	d, err := detect.NewDecoder(detect.LinkEthernet)
	if err != nil {
		fmt.Println(err)
		return
	}
	var o detect.Observation
	fmt.Println(d.Decode(frame, time.Unix(0, 0), &o), o.Dst, o.DstPort)
	_, err = detect.NewDecoder(9999)
	fmt.Println(err)
	// Output:
	// <nil> 198.18.0.2 22
	// detect: link type linktype(9999) not supported
}
