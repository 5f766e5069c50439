package result

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestJSONLSource(t *testing.T) {
	in := `{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","source":"198.18.0.200"}` + "\n" +
		`{"type":"port","addr":"198.18.0.2","port":23,"proto":"tcp","state":"open","source":"198.18.0.300"}` + "\n"
	r := NewJSONLReader(strings.NewReader(in))
	rec, err := r.Next()
	if err != nil || rec.Result.Source != netip.MustParseAddr("198.18.0.200") {
		t.Fatalf("line 1: %+v, %v", rec, err)
	}
	_, err = r.Next()
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 2 || de.Field != "source" || !strings.Contains(err.Error(), `"198.18.0.300"`) {
		t.Fatalf("line 2: %v", err)
	}
	b, _ := Result{AddrPort: netip.MustParseAddrPort("198.18.0.2:22"), Proto: 6, State: Open, Reason: SynAck}.MarshalJSON()
	if strings.Contains(string(b), "source") {
		t.Errorf("unrecorded source written: %s", b)
	}
}
