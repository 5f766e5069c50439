package target_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/portsense/portsense/target"
)

func ExampleParseHosts() {
	spec, err := target.ParseHosts("198.18.0-1.1-3, 198.18.5.0/30", "2001:db8::1-2001:db8::2")
	if err != nil {
		panic(err)
	}
	if err := spec.Exclude("198.18.1.2"); err != nil {
		panic(err)
	}
	// Without host names, Resolve makes no lookups.
	hosts, err := spec.Resolve(context.Background(), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(hosts.Len(), hosts)
	fmt.Println(hosts.At(0), hosts.At(hosts.Len()-1))
	fmt.Println(hosts.Contains(netip.MustParseAddr("198.18.1.2")))
	// Output:
	// 11 198.18.0.1-198.18.0.3,198.18.1.1,198.18.1.3,198.18.5.0/30,2001:db8::1-2001:db8::2
	// 198.18.0.1 2001:db8::2
	// false
}

func ExampleReadHosts() {
	list := "# lab\n198.18.0.1 198.18.0.2\n198.18.0.3 # last\n"
	spec, err := target.ReadHosts(strings.NewReader(list))
	if err != nil {
		panic(err)
	}
	hosts, _ := spec.Resolve(context.Background(), nil)
	fmt.Println(hosts)
	// Output: 198.18.0.1-198.18.0.3
}

func ExampleParseHosts_error() {
	_, err := target.ParseHosts("198.18.0.1,198.18.0.256")
	fmt.Println(err)
	// Output: target: bad host "198.18.0.256" in "198.18.0.1,198.18.0.256": octet 4 "256": out of range 0-255
}

func ExampleParsePorts() {
	ports, err := target.ParsePorts("ssh,80,8000-8002,U:domain,161", target.TCP)
	if err != nil {
		panic(err)
	}
	fmt.Println(ports, ports.Len(), ports.Protocols())
	fmt.Println(ports.At(0), ports.At(ports.Len()-1))
	_, err = target.ParsePorts("22,70000", target.TCP)
	fmt.Println(err)
	// Output:
	// T:22,80,8000-8002,U:53,161 7 [tcp udp]
	// 22/tcp 161/udp
	// target: bad port "70000" in "22,70000": out of range 0-65535
}

func ExampleTop() {
	tcp, _ := target.Top(5, target.TCP)
	udp, _ := target.Top(3, target.UDP)
	fmt.Println(tcp.Merge(udp))
	// Output: T:21-22,80,443,8080,U:53,123,161
}

func ExampleServiceName() {
	fmt.Println(target.ServiceName(target.Port{Proto: target.UDP, Num: 53}))
	ports, _ := target.ServicePort("https")
	fmt.Println(ports)
	// Output:
	// domain
	// [443/tcp 443/udp]
}

func ExampleSpace_Iter() {
	ports, _ := target.ParsePorts("22,80", target.TCP)
	space, err := target.NewSpace(target.MustParseHosts("198.18.0.1-198.18.0.3"), ports)
	if err != nil {
		panic(err)
	}
	// Two shards of one seed partition the six targets.
	for k := range uint64(2) {
		it, err := space.Iter(target.IterConfig{Seed: 1, Shard: k, Shards: 2})
		if err != nil {
			panic(err)
		}
		fmt.Printf("shard %d (%d):", k, it.Len())
		for t, ok := it.Next(); ok; t, ok = it.Next() {
			fmt.Print(" ", t)
		}
		fmt.Println()
	}
	// Output:
	// shard 0 (3): 198.18.0.2:80/tcp 198.18.0.3:22/tcp 198.18.0.3:80/tcp
	// shard 1 (3): 198.18.0.1:22/tcp 198.18.0.2:22/tcp 198.18.0.1:80/tcp
}

func ExampleIterConfig_resume() {
	ports, _ := target.ParsePorts("1-4", target.TCP)
	space, _ := target.NewSpace(target.MustParseHosts("198.18.0.1"), ports)
	cfg := target.IterConfig{Seed: 42}

	it, _ := space.Iter(cfg)
	first, _ := it.Next()
	second, _ := it.Next()
	fmt.Println("before stop:", first, second)
	cfg.Start = it.Pos() // save this, e.g. in a checkpoint file

	rest, _ := space.Iter(cfg)
	for t := range space.All(cfg) {
		u, _ := rest.Next()
		fmt.Println("after resume:", t, t == u)
	}
	// Output:
	// before stop: 198.18.0.1:3/tcp 198.18.0.1:4/tcp
	// after resume: 198.18.0.1:2/tcp true
	// after resume: 198.18.0.1:1/tcp true
}

func ExampleNewOrder() {
	o := target.NewOrder(10, 7)
	var perm []uint64
	for i := range uint64(10) {
		perm = append(perm, o.At(i))
	}
	fmt.Println(perm)
	id := target.IdentityOrder(3)
	fmt.Println(id.At(0), id.At(1), id.At(2))
	// Output:
	// [2 9 6 8 3 1 5 4 0 7]
	// 0 1 2
}
