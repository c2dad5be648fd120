package progress

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSilentWithoutTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 1000, "publish fw.bin")
	if b.Enabled() {
		t.Fatal("a bar on a bytes.Buffer is enabled")
	}
	b.Add(10)
	b.Set(500)
	b.SetTotal(2000)
	b.Describe("other")
	if _, err := io.Copy(io.Discard, b.Reader(strings.NewReader("0123456789"))); err != nil {
		t.Fatal(err)
	}
	b.Finish()
	b.Finish()
	if buf.Len() != 0 {
		t.Fatalf("a bar without a terminal wrote %q", buf.String())
	}
	if got := b.Count(); got != 510 {
		t.Errorf("count %d, want 510", got)
	}
	if got := b.Total(); got != 2000 {
		t.Errorf("total %d, want 2000", got)
	}

	nb := New(nil, 10, "nil writer")
	nb.Add(3)
	nb.Finish()
	if nb.Enabled() || nb.Count() != 3 {
		t.Errorf("nil writer: enabled %v, count %d", nb.Enabled(), nb.Count())
	}

	g := NewGroup(&buf)
	gb := g.NewBar(100, "acme@2.4.1", "blocks")
	gb.Set(50)
	g.Draw()
	if g.Enabled() || buf.Len() != 0 {
		t.Fatalf("a group without a terminal drew %q", buf.String())
	}
	g.Println("acme@2.4.1 installed")
	if buf.String() != "acme@2.4.1 installed\n" {
		t.Errorf("Println without a terminal wrote %q", buf.String())
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var nilFile *os.File
	for name, w := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "regular file": f, "nil": nil, "nil file": nilFile, "discard": io.Discard} {
		if IsTerminal(w) {
			t.Errorf("%s is a terminal", name)
		}
	}
}

func TestReaderWriterCount(t *testing.T) {
	data := bytes.Repeat([]byte("tocsin"), 50_000)
	b := New(&bytes.Buffer{}, int64(len(data)), "r")
	var out bytes.Buffer
	if _, err := io.Copy(&out, b.Reader(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if b.Count() != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Errorf("reader: count %d of %d, data intact %v", b.Count(), len(data), bytes.Equal(out.Bytes(), data))
	}
	w := New(&bytes.Buffer{}, 0, "w")
	var sink bytes.Buffer
	if _, err := io.Copy(w.Writer(&sink), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if w.Count() != int64(len(data)) || sink.Len() != len(data) {
		t.Errorf("writer: count %d, wrote %d, want %d", w.Count(), sink.Len(), len(data))
	}
}

var (
	rateRE = regexp.MustCompile(`[0-9.]+ (B|KiB|MiB|GiB)/s`)
	etaRE  = regexp.MustCompile(`\[[0-9hms.]+:[0-9hms.]+\]`)
)

// lastLine is what a terminal shows last: the text after the final \r.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n ")
	return s[strings.LastIndex(s, "\r")+1:]
}

func TestForcedDrawsLabelBytesRateETA(t *testing.T) {
	var buf bytes.Buffer
	b := NewWith(&buf, 1<<20, "publish fw.bin", Options{Force: true})
	if !b.Enabled() {
		t.Fatal("forced bar is not enabled")
	}
	b.Add(256 << 10)
	time.Sleep(2 * redrawEvery)
	b.Add(256 << 10)
	out := buf.String()
	for _, want := range []string{"publish fw.bin", "512 KiB/1.0 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %q", want, out)
		}
	}
	if !rateRE.MatchString(out) || !etaRE.MatchString(out) {
		t.Errorf("output lacks a rate or an ETA: %q", out)
	}
	if strings.Contains(out, "\n") {
		t.Errorf("bar ended its line before Finish: %q", out)
	}
	b.Add(512 << 10)
	b.Finish()
	out = buf.String()
	if !strings.HasSuffix(out, "\n") || !strings.Contains(lastLine(out), "100%") {
		t.Errorf("finished bar: last line %q, want 100%% and a newline", lastLine(out))
	}
}

func TestFinishIncompleteKeepsCount(t *testing.T) {
	var buf bytes.Buffer
	b := NewWith(&buf, 1000, "import", Options{Force: true})
	b.Add(500)
	b.Finish() // the work failed half-way
	out := buf.String()
	last := lastLine(out)
	if !strings.Contains(last, "500/1000 B") || strings.Contains(last, "100%") || !strings.HasSuffix(out, "\n") {
		t.Errorf("incomplete bar: last line %q (output %q)", last, out)
	}
	n := buf.Len()
	b.Add(10)
	b.Finish()
	if buf.Len() != n {
		t.Errorf("a finished bar drew again: %q", buf.String()[n:])
	}
}

// A total that grows as the work is discovered (a DAG level by level) does
// not end the bar when the count first reaches it.
func TestGrowingTotal(t *testing.T) {
	var buf bytes.Buffer
	b := NewWith(&buf, 1, "fetch", Options{Force: true, Unit: "blocks"})
	b.Set(1)
	b.SetTotal(4)
	b.Set(2)
	b.Set(4)
	if strings.Contains(buf.String(), "\n") {
		t.Fatalf("bar ended before Finish: %q", buf.String())
	}
	b.Finish()
	if last := lastLine(buf.String()); !strings.Contains(last, "100%") || !strings.Contains(last, "4/4") {
		t.Errorf("last line %q, want 100%% and 4/4", last)
	}
}

func TestUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	b := NewWith(&buf, 0, "export", Options{Force: true})
	b.Add(3000)
	time.Sleep(2 * redrawEvery)
	b.Add(3000)
	if out := buf.String(); !strings.Contains(out, "export") || !strings.Contains(out, "5.9 KiB") || strings.Contains(out, "%") {
		t.Errorf("unknown total: %q", out)
	}
	b.SetTotal(12000) // the size became known: a bar with a percentage
	b.Finish()
	if last := lastLine(buf.String()); !strings.Contains(last, "50%") {
		t.Errorf("after SetTotal: last line %q", last)
	}
}

func TestConcurrentAdd(t *testing.T) {
	var buf bytes.Buffer
	b := NewWith(&buf, 8*1000, "c", Options{Force: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Finish()
	if b.Count() != 8000 || !strings.Contains(lastLine(buf.String()), "100%") {
		t.Errorf("count %d, last line %q", b.Count(), lastLine(buf.String()))
	}
}

func TestMeter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var m Meter
	m.Observe(t0, 900) // work done before watching is a baseline, not speed
	if m.Rate() != 0 {
		t.Errorf("rate after one observation %v", m.Rate())
	}
	m.Observe(t0.Add(time.Second), 910)
	if r := m.Rate(); r != 10 {
		t.Errorf("rate %v, want 10", r)
	}
	for i := 2; i <= 30; i++ {
		m.Observe(t0.Add(time.Duration(i)*time.Second), 910+int64(i-1)*100)
	}
	if r := m.Rate(); r != 100 {
		t.Errorf("rate over the window %v, want 100 (the slow start has left it)", r)
	}
	m.Observe(t0.Add(31*time.Second), 5) // the count went back: a new transfer
	if m.Rate() != 0 {
		t.Errorf("rate after a reset %v", m.Rate())
	}
}

func TestGroupForced(t *testing.T) {
	var buf bytes.Buffer
	g := NewGroupWith(&buf, Options{Force: true})
	a := g.NewBar(400, "acme-plc-fw@2.4.1", "blocks")
	a.Set(100)
	a.Detail("25.0MiB")
	g.Draw()
	first := buf.String()
	if !strings.Contains(first, "acme-plc-fw@2.4.1") || !strings.Contains(first, "25%") || !strings.Contains(first, "100/400 blocks, 25.0MiB") {
		t.Errorf("first frame %q", first)
	}
	time.Sleep(600 * time.Millisecond)
	a.Set(160)
	other := g.NewBar(1<<20, "gw-fw@1.1", "")
	other.Set(1 << 19)
	g.Println("acme-plc-fw@2.3.0 installed")
	out := buf.String()[len(first):]
	if !strings.HasPrefix(out, "\x1b[1A\r\x1b[J"+"acme-plc-fw@2.3.0 installed\n") {
		t.Errorf("Println does not erase the bars and print above them: %q", out)
	}
	if !regexp.MustCompile(`160/400 blocks, 25\.0MiB, ETA \d+s`).MatchString(out) || !strings.Contains(out, "512.0KiB/1.0MiB") {
		t.Errorf("second frame lacks ETA or the bytes bar: %q", out)
	}
	g.Remove(a)
	g.Remove(other)
	n := buf.Len()
	g.Draw()
	if got := buf.String()[n:]; got != "\x1b[2A\r\x1b[J" {
		t.Errorf("frame after removing both bars %q", got)
	}
}
