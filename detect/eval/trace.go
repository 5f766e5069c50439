package eval

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// WritePcap writes obs as an Ethernet pcap file: each observation becomes
// a packet built with gopacket's layers (payload bytes are zeros, capped
// at 1400; ICMP errors carry the quoted IP header and 8 transport bytes).
// Timestamps have nanosecond resolution. It lets the trace drive the same
// decoders that read live traffic.
func WritePcap(w io.Writer, obs []detect.Observation) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	for i := range obs {
		if err := serialize(buf, &obs[i]); err != nil {
			return fmt.Errorf("eval: observation %d: %w", i, err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: obs[i].Time, CaptureLength: len(data), Length: len(data)}
		if err := pw.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return nil
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// network returns the IP layer for src→dst.
func network(src, dst netip.Addr, proto target.Protocol, ttl uint8) (gopacket.SerializableLayer, gopacket.NetworkLayer, layers.EthernetType) {
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: layers.IPProtocol(proto), SrcIP: ipOf(src), DstIP: ipOf(dst)}
		return ip, ip, layers.EthernetTypeIPv4
	}
	ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocol(proto), SrcIP: ipOf(src), DstIP: ipOf(dst)}
	return ip, ip, layers.EthernetTypeIPv6
}

func serialize(buf gopacket.SerializeBuffer, o *detect.Observation) error {
	if o.Src.Is4() != o.Dst.Is4() {
		return fmt.Errorf("mixed address families %v → %v", o.Src, o.Dst)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ipl, nl, et := network(o.Src, o.Dst, o.Proto, o.TTL)
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	payload := gopacket.Payload(make([]byte, min(int(o.Payload), 1400)))
	switch o.Proto {
	case target.TCP:
		f := o.Flags
		tcp := &layers.TCP{SrcPort: layers.TCPPort(o.SrcPort), DstPort: layers.TCPPort(o.DstPort), Window: 1024,
			FIN: f&detect.FIN != 0, SYN: f&detect.SYN != 0, RST: f&detect.RST != 0, PSH: f&detect.PSH != 0,
			ACK: f&detect.ACK != 0, URG: f&detect.URG != 0, ECE: f&detect.ECE != 0, CWR: f&detect.CWR != 0}
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
		return gopacket.SerializeLayers(buf, opts, eth, ipl, tcp, payload)
	case target.UDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(o.SrcPort), DstPort: layers.UDPPort(o.DstPort)}
		if err := udp.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
		return gopacket.SerializeLayers(buf, opts, eth, ipl, udp, payload)
	case target.ICMP, target.ICMPv6:
		var quote []byte
		if o.HasQuote {
			q, err := quoted(&o.Quoted)
			if err != nil {
				return err
			}
			quote = q
		}
		if o.Proto == target.ICMP {
			ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(o.ICMPType, o.ICMPCode)}
			return gopacket.SerializeLayers(buf, opts, eth, ipl, ic, gopacket.Payload(quote))
		}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(o.ICMPType, o.ICMPCode)}
		if err := ic.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
		// 4 unused bytes precede the invoking packet in ICMPv6 errors
		return gopacket.SerializeLayers(buf, opts, eth, ipl, ic, gopacket.Payload(append(make([]byte, 4), quote...)))
	}
	return fmt.Errorf("protocol %v not supported", o.Proto)
}

// quoted serialises the invoking packet's IP header and the first 8 bytes
// of its transport header, as an ICMP error carries them.
func quoted(q *detect.Quote) ([]byte, error) {
	b := gopacket.NewSerializeBuffer()
	ipl, nl, _ := network(q.Src, q.Dst, q.Proto, 64)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var l4 gopacket.SerializableLayer
	switch q.Proto {
	case target.TCP:
		t := &layers.TCP{SrcPort: layers.TCPPort(q.SrcPort), DstPort: layers.TCPPort(q.DstPort), SYN: true, Window: 1024}
		_ = t.SetNetworkLayerForChecksum(nl)
		l4 = t
	case target.UDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(q.SrcPort), DstPort: layers.UDPPort(q.DstPort)}
		_ = u.SetNetworkLayerForChecksum(nl)
		l4 = u
	default:
		return nil, fmt.Errorf("quoted protocol %v not supported", q.Proto)
	}
	if err := gopacket.SerializeLayers(b, opts, ipl, l4); err != nil {
		return nil, err
	}
	hdr := 20
	if !q.Src.Is4() {
		hdr = 40
	}
	out := b.Bytes()
	return append([]byte(nil), out[:min(len(out), hdr+8)]...), nil
}
