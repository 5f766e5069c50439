package udppayload

// A minimal BER/DER writer and reader for the ASN.1 protocols among the
// payloads (SNMP, LDAP, Kerberos). It supports single-byte tags and
// definite lengths up to four length bytes, which is all they use.

// tlv encodes one element with tag and the concatenated contents.
func tlv(tag byte, contents ...[]byte) []byte {
	n := 0
	for _, c := range contents {
		n += len(c)
	}
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	for _, c := range contents {
		out = append(out, c...)
	}
	return out
}

// berInt encodes a non-negative INTEGER (tag 0x02) in as few bytes as it needs.
func berInt(v uint32) []byte {
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 1 && b[0] == 0 && b[1] < 0x80 {
		b = b[1:]
	}
	if b[0] >= 0x80 {
		b = append([]byte{0}, b...)
	}
	return tlv(0x02, b)
}

// readTLV splits the element at the start of b into its tag and contents
// and returns what follows. ok is false for a truncated or malformed
// element, an indefinite length, or a multi-byte tag.
func readTLV(b []byte) (tag byte, contents, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, false
	}
	n := int(b[1])
	b = b[2:]
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < k {
			return 0, nil, nil, false
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
		if n < 0 {
			return 0, nil, nil, false
		}
	}
	if n > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:n], b[n:], true
}

// readInt reads an INTEGER of at most four bytes.
func readInt(b []byte) (v int64, rest []byte, ok bool) {
	tag, c, rest, ok := readTLV(b)
	if !ok || tag != 0x02 || len(c) == 0 || len(c) > 4 {
		return 0, nil, false
	}
	v = int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, rest, true
}
