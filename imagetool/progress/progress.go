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
	// Start announces a transfer of total bytes (what: "layer", "config"),
	// or with what "unpack" the unpacking of total layers into the bundle
	// id.
	Start(id, what string, total int64)
	// Update reports done bytes so far.
	Update(id string, done int64)
	// Finish ends a transfer; status is "done", "exists", Aborted or an
	// error text.
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
		return &jsonReporter{enc: json.NewEncoder(w), items: map[string]*item{}}
	case isTerminal(w):
		return newBars(w, func() int { return termRows(w) })
	default:
		return &lines{w: w, items: map[string]*item{}}
	}
}

// termRows is the terminal's height (24 when it cannot be told).
func termRows(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Row > 0 {
			return int(ws.Row)
		}
	}
	return 24
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Aborted ends an item whose failure the caller reports itself as the
// command's error: text and bars drop it without a line.
const Aborted = "aborted"

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
	printed     bool // bars: its final line is on the screen for good
}

// amount formats n of an item: bytes, or layers for the unpack phase.
func (it *item) amount(n int64) string {
	if it.what == "unpack" {
		return fmt.Sprintf("%d layers", n)
	}
	return Bytes(n)
}

// finalLine is what stays on screen (or in the log) when an item ends.
func (it *item) finalLine(status string) string {
	return fmt.Sprintf("%s %s: %s", it.what, short(it.id), it.outcome(status))
}

func (it *item) outcome(status string) string {
	d := time.Since(it.start)
	switch {
	case status == "done" && it.what == "unpack":
		return fmt.Sprintf("%s in %s", it.amount(it.total), d.Round(time.Millisecond))
	case status == "done":
		return fmt.Sprintf("%s in %s (%s)", Bytes(it.total), d.Round(time.Millisecond), rate(it.total, d))
	case status == "exists":
		return fmt.Sprintf("already present (%s)", Bytes(it.total))
	}
	return "failed: " + status
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
	if it == nil || status == Aborted {
		return
	}
	fmt.Fprintln(l.w, it.finalLine(status))
}

func (l *lines) Close() {}

// jsonReporter writes one JSON object per event. Every event is whole:
// digest (or bundle, for "unpack"), what, total and done, so a reader can
// start at any line.
type jsonReporter struct {
	mu    sync.Mutex
	enc   *json.Encoder
	items map[string]*item
	// last throttles "progress" events per blob.
	last map[string]time.Time
}

type jsonEvent struct {
	Event  string `json:"event"`
	Digest string `json:"digest"`
	What   string `json:"what"`
	Total  int64  `json:"total"`
	Done   int64  `json:"done"`
	Status string `json:"status,omitempty"`
}

func (j *jsonReporter) emit(event, id, status string) {
	it := j.items[id]
	if it == nil {
		it = &item{id: id}
	}
	j.enc.Encode(jsonEvent{Event: event, Digest: id, What: it.what, Total: it.total, Done: it.done, Status: status})
}

func (j *jsonReporter) Start(id, what string, total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.items[id] = &item{id: id, what: what, total: total, start: time.Now()}
	j.emit("start", id, "")
}

func (j *jsonReporter) Update(id string, done int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if it := j.items[id]; it != nil {
		it.done = done
	}
	if j.last == nil {
		j.last = map[string]time.Time{}
	}
	if time.Since(j.last[id]) < time.Second {
		return
	}
	j.last[id] = time.Now()
	j.emit("progress", id, "")
}

func (j *jsonReporter) Finish(id, status string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if it := j.items[id]; it != nil && (status == "done" || status == "exists") {
		it.done = it.total
	}
	j.emit("finish", id, status)
}

func (j *jsonReporter) Close() {}

// bars redraws one bar per transfer in progress on a terminal, ten times
// a second. A finished transfer's line is printed once and scrolls away
// like log output; only the ones in progress are redrawn, at most the
// terminal's height less two (with a line counting the others), so that
// moving the cursor back up never goes past the top of the screen, where
// the terminal would stop and the bars would pile up.
type bars struct {
	mu     sync.Mutex
	w      io.Writer
	rows   func() int
	order  []*item
	byID   map[string]*item
	drawn  int // lines of the live area on screen
	stop   chan struct{}
	closed sync.WaitGroup
}

func newBars(w io.Writer, rows func() int) *bars {
	b := &bars{w: w, rows: rows, byID: map[string]*item{}, stop: make(chan struct{})}
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
		it.printed = status == Aborted
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
		fmt.Fprintf(&sb, "\x1b[%dA", b.drawn) // back to the top of the live area
	}
	sb.WriteString("\r\x1b[J") // and clear it
	const width = 30
	var live []*item
	for _, it := range b.order {
		switch {
		case it.status == "":
			live = append(live, it)
		case !it.printed:
			fill := strings.Repeat("=", width)
			fmt.Fprintf(&sb, "%-6s %s [%s] %s\n", it.what, short(it.id), fill, it.outcome(it.status))
			it.printed = true
		}
	}
	max := b.rows() - 2
	if max < 1 {
		max = 1
	}
	b.drawn = 0
	for i, it := range live {
		if i == max {
			fmt.Fprintf(&sb, "… and %d more in progress\n", len(live)-max)
			b.drawn++
			break
		}
		fill := width
		if it.total > 0 {
			fill = int(int64(width) * it.done / it.total)
		}
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		speed := rate(it.done, time.Since(it.start))
		if it.what == "unpack" {
			speed = time.Since(it.start).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&sb, "%-6s %s [%s] %s / %s %s\n", it.what, short(it.id), bar, it.amount(it.done), it.amount(it.total), speed)
		b.drawn++
	}
	io.WriteString(b.w, sb.String())
}
