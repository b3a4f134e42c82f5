package mp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxFrameSize is the largest frame, in bytes after the 4-byte length prefix,
// that either side writes or accepts. A larger message is refused by Send
// with ErrFrameTooLarge; a larger length prefix on the pipe is a fatal
// ErrFrameTooLarge for the reader, which never allocates beyond this limit.
// Bulk data belongs in shared memory (see package mp/shm), not in messages.
const MaxFrameSize = 16 << 20

// A frame is the unit on the pipe:
//
//	uint32 little-endian body length
//	body:  kind byte | code byte | uvarint id | string command | string error |
//	       uvarint param count | (string key | tag byte | value)...
//
// Strings and byte slices are a uvarint length and the bytes. The format was
// chosen over encoding/gob after measuring both (see codec_bench_test.go):
// it needs no type registration, has no per-stream set-up (gob sends type
// descriptions with the first message of a stream), and lets the decoder
// check every count against the bytes left before allocating for it, so
// what a frame can make the reader allocate is bounded by a small multiple
// of its length (Go's in-memory types are larger than their encoding: an
// []int element takes 8 bytes for 1 on the wire), never by a count it claims.
type frame struct {
	kind    frameKind
	code    ErrorCode
	id      uint64
	command string
	errText string
	params  Params
}

type frameKind uint8

const (
	kindSend           frameKind = iota + 1 // frontend → backend, no reply expected
	kindCall                                // frontend → backend, reply expected (id)
	kindInit                                // frontend → backend, first frame: start parameters
	kindMessage                             // backend → frontend, a message for Process.Messages
	kindReply                               // backend → frontend, the reply to call id
	kindError                               // backend → frontend, a Send's handler failed
	kindFatal                               // backend → frontend, the backend is exiting because of this
	kindReady                               // backend → frontend, pre-run is done: Start may return
	kindCancel                              // frontend → backend, the caller of call id gave up
	kindEnding                              // backend → frontend, the backend is ending on purpose; code is the EndReason
	kindCommandsClosed                      // frontend → backend, on the cancel pipe: the command pipe is closed (plainread.go)
	kindMax
)

// Value tags of the parameter encoding.
const (
	tagNil byte = iota
	tagFalse
	tagTrue
	tagInt
	tagInt64
	tagUint64
	tagFloat64
	tagString
	tagBytes
	tagInts
	tagFloats
	tagStrings
)

// appendFrame appends the encoded frame, length prefix included, to buf.
func appendFrame(buf []byte, f *frame) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, byte(f.kind), byte(f.code))
	buf = binary.AppendUvarint(buf, f.id)
	buf = appendString(buf, f.command)
	buf = appendString(buf, f.errText)
	buf = binary.AppendUvarint(buf, uint64(len(f.params)))
	for k, v := range f.params {
		buf = appendString(buf, k)
		var err error
		if buf, err = appendValue(buf, v); err != nil {
			return buf[:start], fmt.Errorf("parameter %q: %w", k, err)
		}
	}
	n := len(buf) - start - 4
	if n > MaxFrameSize {
		return buf[:start], fmt.Errorf("message is %d bytes, the limit is %d (put bulk data in shared memory): %w",
			n, MaxFrameSize, ErrFrameTooLarge)
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(n))
	return buf, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, tagNil), nil
	case bool:
		if x {
			return append(buf, tagTrue), nil
		}
		return append(buf, tagFalse), nil
	case int:
		return binary.AppendVarint(append(buf, tagInt), int64(x)), nil
	case int64:
		return binary.AppendVarint(append(buf, tagInt64), x), nil
	case uint64:
		return binary.AppendUvarint(append(buf, tagUint64), x), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(buf, tagFloat64), math.Float64bits(x)), nil
	case string:
		return appendString(append(buf, tagString), x), nil
	case []byte:
		buf = binary.AppendUvarint(append(buf, tagBytes), uint64(len(x)))
		return append(buf, x...), nil
	case []int:
		buf = binary.AppendUvarint(append(buf, tagInts), uint64(len(x)))
		for _, n := range x {
			buf = binary.AppendVarint(buf, int64(n))
		}
		return buf, nil
	case []float64:
		buf = binary.AppendUvarint(append(buf, tagFloats), uint64(len(x)))
		for _, f := range x {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
		}
		return buf, nil
	case []string:
		buf = binary.AppendUvarint(append(buf, tagStrings), uint64(len(x)))
		for _, s := range x {
			buf = appendString(buf, s)
		}
		return buf, nil
	}
	return buf, fmt.Errorf("type %T cannot be sent (use bool, int, int64, uint64, float64, string, []byte, []int, []float64 or []string): %w", v, ErrParam)
}

// readBufferSize is the frame reader's buffer: enough for many small frames
// per read; a larger frame is read past it, straight into its own buffer.
const readBufferSize = 4 << 10

// frameReader reads frames from a stream, never allocating more than
// max bytes for one frame.
type frameReader struct {
	r       *bufio.Reader
	max     int
	buf     []byte
	hdr     [4]byte
	command string // the last command decoded: a stream repeats its commands
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBufferSize), max: max}
}

// read returns the next frame. It returns io.EOF when the stream ends cleanly
// between frames, and an error wrapping ErrBadFrame or ErrFrameTooLarge when
// it does not hold a valid frame.
func (fr *frameReader) read() (frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return frame{}, fmt.Errorf("%w: stream ended inside a frame header: %w", ErrBadFrame, io.ErrUnexpectedEOF)
		}
		return frame{}, err
	}
	n := binary.LittleEndian.Uint32(fr.hdr[:])
	if uint64(n) > uint64(fr.max) {
		return frame{}, fmt.Errorf("%w: length %d is beyond the limit of %d bytes", ErrFrameTooLarge, n, fr.max)
	}
	if n == 0 {
		return frame{}, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	if int(n) <= fr.r.Buffered() {
		// The body is in the reader's buffer already: decode it there
		// (the decoder copies what it keeps), not from a copy in fr.buf.
		body, _ := fr.r.Peek(int(n))
		f, err := decodeBodyWith(body, &fr.command)
		fr.r.Discard(int(n))
		return f, err
	}
	if int(n) > cap(fr.buf) {
		fr.buf = make([]byte, n)
	}
	body := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Both: a cut frame is malformed, and also the end of the
			// stream (a writer that gave up half way, then closed).
			return frame{}, fmt.Errorf("%w: stream ended inside a %d-byte frame: %w", ErrBadFrame, n, io.ErrUnexpectedEOF)
		}
		return frame{}, err
	}
	f, err := decodeBodyWith(body, &fr.command)
	if cap(fr.buf) > 64<<10 {
		fr.buf = nil // do not pin a large buffer after a large frame
	}
	return f, err
}

// decodeBody decodes one frame body. Every length in it is checked against
// the bytes that remain before anything is allocated for it.
func decodeBody(b []byte) (frame, error) {
	var last string
	return decodeBodyWith(b, &last)
}

// decodeBodyWith is decodeBody, reusing *last for a command equal to the
// last one decoded (and keeping the new one there): a stream of messages
// repeats a few commands, and a string less per message is garbage less.
func decodeBodyWith(b []byte, last *string) (frame, error) {
	d := decoder{b: b}
	var f frame
	f.kind = frameKind(d.byte())
	f.code = ErrorCode(d.byte())
	f.id = d.uvarint()
	if raw := d.raw(); string(raw) == *last {
		f.command = *last
	} else {
		f.command = string(raw)
		*last = f.command
	}
	f.errText = d.string()
	n := d.count(2) // a parameter takes at least two bytes
	if d.err == nil && (f.kind == 0 || f.kind >= kindMax) {
		d.fail("unknown frame kind %d", f.kind)
	}
	if n > 0 && d.err == nil {
		f.params = make(Params, min(n, 16)) // grows with what is really decoded
		for i := 0; i < n && d.err == nil; i++ {
			k := d.string()
			v := d.value()
			if _, dup := f.params[k]; dup && d.err == nil {
				d.fail("duplicate parameter %q", k)
			}
			f.params[k] = v
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end of the frame", len(d.b))
	}
	if d.err != nil {
		return frame{}, d.err
	}
	return f, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadFrame}, args...)...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("frame truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad unsigned varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count and checks that count elements of at least
// minSize bytes each can fit in what remains.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/minSize) {
		d.fail("count %d does not fit in the %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) raw() []byte {
	n := d.count(1)
	if d.err != nil {
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("frame truncated in a float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) value() any {
	switch tag := d.byte(); tag {
	case tagNil:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt:
		v := d.varint()
		if int64(int(v)) != v {
			d.fail("int %d overflows", v)
		}
		return int(v)
	case tagInt64:
		return d.varint()
	case tagUint64:
		return d.uvarint()
	case tagFloat64:
		return d.float()
	case tagString:
		return d.string()
	case tagBytes:
		return append([]byte{}, d.raw()...)
	case tagInts:
		n := d.count(1)
		v := make([]int, 0, min(n, 1024))
		for i := 0; i < n && d.err == nil; i++ {
			v = append(v, int(d.varint()))
		}
		return v
	case tagFloats:
		n := d.count(8) // exact: 8 bytes each, so the count is already bounded
		v := make([]float64, n)
		for i := range v {
			v[i] = d.float()
		}
		return v
	case tagStrings:
		n := d.count(1)
		v := make([]string, 0, min(n, 1024))
		for i := 0; i < n && d.err == nil; i++ {
			v = append(v, d.string())
		}
		return v
	default:
		if d.err == nil {
			d.fail("unknown value tag %d", tag)
		}
		return nil
	}
}
