package cli

import (
	"runtime"

	"github.com/flowsieve/flowsieve/engine/flow"
)

// flowPipeChunk is how many ended flows the table hands on at once, and
// flowPipeChunks how many such chunks circulate.
const (
	flowPipeChunk  = 512
	flowPipeChunks = 8
)

// flowPipeFormatters is the most goroutines formatting records.
const flowPipeFormatters = 4

// endedFlow is a copy of a flow handed to the sink, with the reason.
type endedFlow struct {
	f   flow.Flow
	why flow.Reason
}

// flowChunk is a run of ended flows and, once formatted, their records.
type flowChunk struct {
	flows []endedFlow
	out   []byte        // the records of flows
	ready chan struct{} // a value when out is formatted
}

// flowPipe formats records on goroutines of their own: the table's sink copies
// each ended flow into a chunk; formatters (one per CPU, up to
// flowPipeFormatters) compute the features of whole chunks and format them, and
// the writer goroutine writes the chunks in the order the table filled them, with
// the IPFIX export. The records are those the table hands over, in its order,
// whatever the number of formatters. (On the 120-s mix, formatting is about 55% of
// the work.)
type flowPipe struct {
	w     *flowWriter
	cur   *flowChunk
	free  chan *flowChunk // chunks to fill
	work  chan *flowChunk // filled chunks for the formatters
	order chan *flowChunk // filled chunks in the table's order, for the writer
	done  chan struct{}   // closed when the writer has written the last chunk
}

// newFlowPipe starts the formatting and writing goroutines of w.
func newFlowPipe(w *flowWriter) *flowPipe {
	p := &flowPipe{w: w, free: make(chan *flowChunk, flowPipeChunks), work: make(chan *flowChunk, flowPipeChunks),
		order: make(chan *flowChunk, flowPipeChunks), done: make(chan struct{})}
	for range flowPipeChunks {
		p.free <- &flowChunk{flows: make([]endedFlow, 0, flowPipeChunk), ready: make(chan struct{}, 1)}
	}
	p.cur = <-p.free
	for range min(runtime.GOMAXPROCS(0), flowPipeFormatters) {
		go p.format(&recordFormat{w: w})
	}
	go p.write()
	return p
}

// format formats the chunks of the work queue.
func (p *flowPipe) format(r *recordFormat) {
	for ch := range p.work {
		b := ch.out[:0]
		for i := range ch.flows {
			e := &ch.flows[i]
			if !p.w.skip(&e.f, e.why) {
				b = r.appendRecord(b, &e.f, e.why)
			}
		}
		ch.out = b
		ch.ready <- struct{}{}
	}
}

// write writes the chunks in order as they are formatted.
func (p *flowPipe) write() {
	defer close(p.done)
	for ch := range p.order {
		<-ch.ready
		if p.w.ipfix != nil {
			for i := range ch.flows {
				p.w.export(&ch.flows[i].f, ch.flows[i].why)
			}
		}
		p.w.write(ch.out)
		ch.flows = ch.flows[:0]
		p.free <- ch
	}
}

// sink is the table's sink: it copies the flow for the formatters.
func (p *flowPipe) sink(f *flow.Flow, why flow.Reason) {
	if p.w.ipfix == nil && p.w.skip(f, why) {
		return // written at its early decision point, and no IPFIX export wants its end
	}
	p.cur.flows = append(p.cur.flows, endedFlow{*f, why})
	if len(p.cur.flows) == cap(p.cur.flows) {
		p.send()
	}
}

// send hands the current chunk on and takes a free one.
func (p *flowPipe) send() {
	p.order <- p.cur
	p.work <- p.cur
	p.cur = <-p.free
}

// close hands over the last flows and waits until every record is written.
func (p *flowPipe) close() {
	p.order <- p.cur
	p.work <- p.cur
	close(p.order)
	close(p.work)
	<-p.done
}
