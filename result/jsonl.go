package result

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
)

// Writer consumes a stream of port and host verdicts, in any order and
// interleaved. Close flushes what the writer buffered; it does not close
// the underlying io.Writer. Every Writer in this package is safe for
// concurrent use.
type Writer interface {
	WriteResult(Result) error
	WriteHost(Host) error
	Close() error
}

// ErrClosed is returned by writes to a closed Writer.
var ErrClosed = errors.New("result: writer closed")

// Record is one decoded line of a JSON Lines stream: exactly one of Host
// and Result is non-nil.
type Record struct {
	Host   *Host
	Result *Result
}

// JSONLWriter writes one JSON object per line (JSON Lines), each record as
// soon as it arrives. It suits pipes, logs and shards that Merge later.
type JSONLWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	tc     timeCache
	err    error
	closed bool
}

var _ Writer = (*JSONLWriter)(nil)

// NewJSONLWriter returns a Writer that writes JSON Lines to w.
// Each record is one Write call on w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	return &JSONLWriter{w: w, buf: make([]byte, 0, 256)}
}

// WriteResult writes r as one line.
func (j *JSONLWriter) WriteResult(r Result) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.check(); err != nil {
		return err
	}
	b, err := r.appendJSON(j.buf[:0], &j.tc)
	if err != nil {
		return err
	}
	return j.write(b)
}

// WriteHost writes h as one line.
func (j *JSONLWriter) WriteHost(h Host) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.check(); err != nil {
		return err
	}
	b, err := h.AppendJSON(j.buf[:0])
	if err != nil {
		return err
	}
	return j.write(b)
}

func (j *JSONLWriter) check() error {
	if j.closed {
		return ErrClosed
	}
	return j.err
}

func (j *JSONLWriter) write(b []byte) error {
	b = append(b, '\n')
	j.buf = b[:0]
	if _, err := j.w.Write(b); err != nil {
		j.err = err // a short write leaves a torn line: stop here
		return err
	}
	return nil
}

// Close flushes the underlying writer when it has a Flush method (such as
// *bufio.Writer) and makes later writes fail with ErrClosed.
func (j *JSONLWriter) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.err != nil {
		return j.err
	}
	if f, ok := j.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// MaxLineBytes is the longest line a JSONLReader accepts.
const MaxLineBytes = 1 << 20

// JSONLReader decodes a JSON Lines stream written by JSONLWriter (or any
// producer following the schema in the package documentation). Blank
// lines are skipped; unknown fields are ignored.
type JSONLReader struct {
	br   *bufio.Reader
	line int
	long []byte
	dec  decoder
	err  error // sticky read error
}

// NewJSONLReader returns a reader of JSON Lines from r.
func NewJSONLReader(r io.Reader) *JSONLReader {
	return &JSONLReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record, or io.EOF at the end of the stream.
// A malformed line gives a *DecodeError naming the line and field; Next
// may be called again to go on with the following line. Read errors are
// final.
func (r *JSONLReader) Next() (Record, error) {
	for {
		if r.err != nil {
			return Record{}, r.err
		}
		b, err := r.readLine()
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				return Record{}, err
			}
			r.err = err
			if err != io.EOF || len(b) == 0 {
				return Record{}, err
			}
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		return r.dec.decode(b, r.line, kindNone)
	}
}

// readLine returns the next line without its newline. At the end of a
// stream without a final newline it returns the last line and io.EOF.
func (r *JSONLReader) readLine() ([]byte, error) {
	r.long = r.long[:0]
	for {
		b, err := r.br.ReadSlice('\n')
		switch {
		case err == nil:
			r.line++
			if len(r.long)+len(b)-1 > MaxLineBytes {
				return nil, r.tooLong()
			}
			if len(r.long) > 0 {
				r.long = append(r.long, b...)
				b = r.long
			}
			return b[:len(b)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(r.long)+len(b) > MaxLineBytes {
				r.line++
				// Drop the rest of the line so that Next can go on.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.br.ReadSlice('\n')
				}
				if err != nil && err != io.EOF {
					return nil, err
				}
				return nil, r.tooLong()
			}
			r.long = append(r.long, b...)
		case err == io.EOF:
			if len(r.long) > 0 {
				r.long = append(r.long, b...)
				b = r.long
			}
			if len(b) > 0 {
				r.line++
			}
			if len(b) > MaxLineBytes {
				return nil, r.tooLong()
			}
			return b, io.EOF
		default:
			return nil, err
		}
	}
}

func (r *JSONLReader) tooLong() error {
	return &DecodeError{Line: r.line, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
}

// All returns the stream's records as an iterator. A malformed line
// yields its error and iteration goes on; a read error is yielded last.
// The sequence ends at the end of the stream.
func (r *JSONLReader) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) {
				return
			}
			var de *DecodeError
			if err != nil && (!errors.As(err, &de) || r.err != nil) {
				return
			}
		}
	}
}

// Multi returns a Writer that writes every record to each of ws, like
// io.MultiWriter. It tries every writer and joins their errors.
func Multi(ws ...Writer) Writer {
	return multi(append([]Writer(nil), ws...))
}

type multi []Writer

func (m multi) WriteResult(r Result) error {
	var errs []error
	for _, w := range m {
		if err := w.WriteResult(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) WriteHost(h Host) error {
	var errs []error
	for _, w := range m {
		if err := w.WriteHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) Close() error {
	var errs []error
	for _, w := range m {
		if err := w.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
