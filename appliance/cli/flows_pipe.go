package cli

import "github.com/flowsieve/flowsieve/engine/flow"

// flowPipeChunk is how many ended flows the table hands the writer at once, and
// flowPipeChunks how many such chunks circulate.
const (
	flowPipeChunk  = 256
	flowPipeChunks = 4
)

// endedFlow is a copy of a flow handed to the sink, with the reason.
type endedFlow struct {
	f   flow.Flow
	why flow.Reason
}

// flowPipe formats records on a goroutine of its own: the table's sink copies each
// ended flow into a chunk, and the writer computes its features and formats them
// while the table goes on reading packets (on the 120-s mix, formatting is about
// 40% of the work). Records keep the order the table hands them over.
type flowPipe struct {
	w    *flowWriter
	cur  []endedFlow
	free chan []endedFlow
	full chan []endedFlow
	done chan struct{}
}

// newFlowPipe starts the writer goroutine of w.
func newFlowPipe(w *flowWriter) *flowPipe {
	p := &flowPipe{w: w, free: make(chan []endedFlow, flowPipeChunks), full: make(chan []endedFlow, flowPipeChunks),
		done: make(chan struct{})}
	for range flowPipeChunks - 1 {
		p.free <- make([]endedFlow, 0, flowPipeChunk)
	}
	p.cur = make([]endedFlow, 0, flowPipeChunk)
	go p.run()
	return p
}

func (p *flowPipe) run() {
	defer close(p.done)
	for chunk := range p.full {
		for i := range chunk {
			p.w.sink(&chunk[i].f, chunk[i].why)
		}
		p.free <- chunk[:0]
	}
}

// sink is the table's sink: it copies the flow for the writer.
func (p *flowPipe) sink(f *flow.Flow, why flow.Reason) {
	if p.w.early && why != flow.Early && f.EarlyDone && p.w.ipfix == nil {
		return // written at its early decision point, and no IPFIX export wants its end
	}
	p.cur = append(p.cur, endedFlow{*f, why})
	if len(p.cur) == cap(p.cur) {
		p.full <- p.cur
		p.cur = <-p.free
	}
}

// close hands over the last flows and waits until every record is formatted.
func (p *flowPipe) close() {
	p.full <- p.cur
	close(p.full)
	<-p.done
}
