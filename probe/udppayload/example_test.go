package udppayload_test

import (
	"bytes"
	"fmt"

	"github.com/portsense/portsense/probe/udppayload"
)

// A user registers a payload for an in-house protocol on port 7777: the
// service answers "PONG" to "PING", and a reply that starts with "PONG"
// names it.
func ExampleTable_Register() {
	tab := udppayload.Default()
	err := tab.Register(udppayload.Payload{
		Name:    "acme-ping",
		Service: "acme",
		Ports:   []uint16{7777},
		Data:    []byte("PING\n"),
		Match:   func(r []byte) bool { return bytes.HasPrefix(r, []byte("PONG")) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", tab.Datagrams(7777))
	fmt.Println(tab.Identify(7777, []byte("PONG acme 1.2\n")))
	fmt.Println(tab.Identify(7777, []byte("something else")))
	// Output:
	// ["PING\n"]
	// acme true
	//  false
}

// Ports without a payload get one empty datagram; well-known ports get
// one datagram per protocol spoken there.
func ExampleTable_Datagrams() {
	tab := udppayload.Default()
	for _, port := range []uint16{53, 161, 40000} {
		fmt.Println(port, len(tab.Datagrams(port)), "datagrams")
	}
	for _, p := range tab.Payloads(53) {
		fmt.Println(p.Name, p.Service, len(p.Data), "bytes")
	}
	// Output:
	// 53 2 datagrams
	// 161 2 datagrams
	// 40000 1 datagrams
	// dns-version-bind domain 30 bytes
	// dns-root-ns domain 17 bytes
}
