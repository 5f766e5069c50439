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
	err := detect.Decoder{Link: detect.LinkRaw}.Decode(pkt, time.Unix(0, 0), &o)
	fmt.Println(err)
	fmt.Println(o.Proto, o.Src, o.SrcPort, "->", o.Dst, o.DstPort, "ttl", o.TTL, "syn:", o.Flags == detect.SYN)
	// Output:
	// <nil>
	// tcp 198.18.0.1 40000 -> 198.18.0.2 22 ttl 64 syn: true
}
