package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reporter receives the progress of blob transfers. Implementations are
// safe for concurrent use. id is the blob digest.
type Reporter interface {
	// Start announces a transfer of total bytes (what: "layer", "config").
	Start(id, what string, total int64)
	// Update reports done bytes so far.
	Update(id string, done int64)
	// Finish ends a transfer; status is "done", "exists" or an error text.
	Finish(id, status string)
	// Close flushes the display.
	Close()
}

// New picks the reporter for w: nothing when quiet, JSON lines for
// format "json", bars when w is a terminal, else one line per blob.
func New(w io.Writer, quiet bool, format string) Reporter {
	switch {
	case quiet:
		return nop{}
	case format == "json":
		return &jsonReporter{enc: json.NewEncoder(w)}
	case isTerminal(w):
		return newBars(w)
	default:
		return &lines{w: w, items: map[string]*item{}}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

type nop struct{}

func (nop) Start(string, string, int64) {}
func (nop) Update(string, int64)        {}
func (nop) Finish(string, string)       {}
func (nop) Close()                      {}

// item is one transfer's state.
type item struct {
	id, what    string
	total, done int64
	start       time.Time
	status      string
}

func short(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return id
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}

// lines prints one line per finished blob, for logs and pipes.
type lines struct {
	mu    sync.Mutex
	w     io.Writer
	items map[string]*item
}

func (l *lines) Start(id, what string, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items[id] = &item{id: id, what: what, total: total, start: time.Now()}
}

func (l *lines) Update(id string, done int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if it := l.items[id]; it != nil {
		it.done = done
	}
}

func (l *lines) Finish(id, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.items[id]
	if it == nil {
		return
	}
	d := time.Since(it.start)
	switch status {
	case "done":
		fmt.Fprintf(l.w, "%s %s: %s in %s (%s)\n", it.what, short(id), Bytes(it.total), d.Round(time.Millisecond), rate(it.total, d))
	case "exists":
		fmt.Fprintf(l.w, "%s %s: already present (%s)\n", it.what, short(id), Bytes(it.total))
	default:
		fmt.Fprintf(l.w, "%s %s: failed: %s\n", it.what, short(id), status)
	}
}

func (l *lines) Close() {}

// jsonReporter writes one JSON object per event.
type jsonReporter struct {
	mu  sync.Mutex
	enc *json.Encoder
	// last throttles "progress" events per blob.
	last map[string]time.Time
}

type jsonEvent struct {
	Event  string `json:"event"`
	Digest string `json:"digest"`
	What   string `json:"what,omitempty"`
	Total  int64  `json:"total,omitempty"`
	Done   int64  `json:"done,omitempty"`
	Status string `json:"status,omitempty"`
}

func (j *jsonReporter) Start(id, what string, total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(jsonEvent{Event: "start", Digest: id, What: what, Total: total})
}

func (j *jsonReporter) Update(id string, done int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.last == nil {
		j.last = map[string]time.Time{}
	}
	if time.Since(j.last[id]) < time.Second {
		return
	}
	j.last[id] = time.Now()
	j.enc.Encode(jsonEvent{Event: "progress", Digest: id, Done: done})
}

func (j *jsonReporter) Finish(id, status string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(jsonEvent{Event: "finish", Digest: id, Status: status})
}

func (j *jsonReporter) Close() {}

// bars redraws one bar per blob on a terminal, ten times a second.
type bars struct {
	mu     sync.Mutex
	w      io.Writer
	order  []*item
	byID   map[string]*item
	drawn  int
	stop   chan struct{}
	closed sync.WaitGroup
}

func newBars(w io.Writer) *bars {
	b := &bars{w: w, byID: map[string]*item{}, stop: make(chan struct{})}
	b.closed.Add(1)
	go func() {
		defer b.closed.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.draw()
			case <-b.stop:
				b.draw()
				return
			}
		}
	}()
	return b
}

func (b *bars) Start(id, what string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	it := &item{id: id, what: what, total: total, start: time.Now()}
	b.order = append(b.order, it)
	b.byID[id] = it
}

func (b *bars) Update(id string, done int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it := b.byID[id]; it != nil {
		it.done = done
	}
}

func (b *bars) Finish(id, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it := b.byID[id]; it != nil {
		it.status = status
		if status == "done" || status == "exists" {
			it.done = it.total
		}
	}
}

func (b *bars) Close() {
	close(b.stop)
	b.closed.Wait()
}

func (b *bars) draw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	if b.drawn > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA", b.drawn) // back to the first bar
	}
	for _, it := range b.order {
		const width = 30
		fill := width
		if it.total > 0 {
			fill = int(int64(width) * it.done / it.total)
		}
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		state := rate(it.done, time.Since(it.start))
		if it.status != "" {
			state = it.status
		}
		fmt.Fprintf(&sb, "\r\x1b[K%-6s %s [%s] %s / %s %s\n", it.what, short(it.id), bar, Bytes(it.done), Bytes(it.total), state)
	}
	b.drawn = len(b.order)
	io.WriteString(b.w, sb.String())
}
