package unpack

import (
	"hash"
	"io"
)

// readAhead moves the reads of a layer's uncompressed stream, that is the
// decompression and the hashing of what comes out of it, to a goroutine of
// their own, a few chunks ahead of the tar reader: the two then run on two
// cores instead of taking turns on one. Measured on the 2-CPU dev VM
// (bench/bundle), gunzip takes about half of a cold bundle's CPU and the
// file writes most of the rest. The stream is delivered exactly as read,
// its error (EOF, a decompression error, a limit) after the bytes read
// before it.
type readAhead struct {
	full chan chunk
	free chan []byte
	stop chan struct{}
	done chan struct{}
	buf  []byte // the chunk being consumed (nil: none)
	cur  []byte // its unread part
	err  error  // the error that came with it
}

type chunk struct {
	b   []byte
	err error
}

const (
	// readAheadChunk stays under the sizes at which write(2) into the
	// page cache gets slow on the dev VM (see store.filePiece): a file's
	// content is written in reads of at most one chunk.
	readAheadChunk  = 256 << 10
	readAheadChunks = 4
)

// newReadAhead starts reading r, writing everything read to h before it
// is handed on. Close must be called to stop the goroutine.
func newReadAhead(r io.Reader, h hash.Hash) *readAhead {
	ra := &readAhead{
		full: make(chan chunk, readAheadChunks),
		free: make(chan []byte, readAheadChunks),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range readAheadChunks {
		ra.free <- make([]byte, readAheadChunk)
	}
	go ra.run(r, h)
	return ra
}

func (ra *readAhead) run(r io.Reader, h hash.Hash) {
	defer close(ra.done)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := fill(r, buf)
		h.Write(buf[:n])
		select {
		case ra.full <- chunk{buf[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// fill reads into buf until it is full or r returns an error.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)] // never blocks: free holds every chunk
			ra.buf = nil
		}
		c := <-ra.full
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits for it, so that the reader
// it reads from can be closed; the hash is complete once Read returned
// io.EOF.
func (ra *readAhead) Close() {
	select {
	case <-ra.stop:
	default:
		close(ra.stop)
	}
	<-ra.done
}
