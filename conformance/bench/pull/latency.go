package main

import (
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections on 127.0.0.1 to a backend, holding
// every byte for a fixed one-way delay in each direction, with at most
// window/2 bytes per direction in flight: a connection then moves at most
// window bytes per round trip, as TCP does with a window of that size, so
// one stream is bound by the round trip and several streams are not.
//
// It stands in for `tc qdisc add … netem delay`, which the kernels the
// benchmark runs on may lack (CONFIG_NET_SCH_NETEM); unlike netem it does
// not model slow start or loss.
type delayProxy struct {
	l       net.Listener
	backend string
	oneWay  time.Duration
	window  int
	wg      sync.WaitGroup
}

func startDelayProxy(backend string, rtt time.Duration, window int) (*delayProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{l: l, backend: backend, oneWay: rtt / 2, window: window}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *delayProxy) Addr() string { return p.l.Addr().String() }

// Close stops accepting; connections under way end with their peers.
func (p *delayProxy) Close() {
	p.l.Close()
	p.wg.Wait()
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			u, err := net.DialTimeout("tcp", p.backend, 10*time.Second)
			if err != nil {
				c.Close()
				return
			}
			done := make(chan struct{}, 2)
			go func() { p.pipe(u, c); done <- struct{}{} }()
			go func() { p.pipe(c, u); done <- struct{}{} }()
			<-done
			<-done
			c.Close()
			u.Close()
		}()
	}
}

type packet struct {
	due time.Time
	b   []byte
}

// pipe copies src to dst through a delay line of p.window/2 bytes.
func (p *delayProxy) pipe(dst, src net.Conn) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inFlight, limit := 0, max(p.window/2, 64<<10)
	line := make(chan packet, 4096)
	go func() {
		defer close(line)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				mu.Lock()
				for inFlight+n > limit {
					cond.Wait()
				}
				inFlight += n
				mu.Unlock()
				line <- packet{time.Now().Add(p.oneWay), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for pk := range line {
		if d := time.Until(pk.due); d > 0 {
			time.Sleep(d)
		}
		_, err := dst.Write(pk.b)
		mu.Lock()
		inFlight -= len(pk.b)
		cond.Broadcast()
		mu.Unlock()
		if err != nil {
			src.Close() // ends the reader
			for pk := range line {
				mu.Lock()
				inFlight -= len(pk.b)
				cond.Broadcast()
				mu.Unlock()
			}
			break
		}
	}
	// Half-close so that the other direction sees the end.
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
