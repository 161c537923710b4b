package traffic

// renderApp lays out the next message of an application kind.
func (g *Generator) renderApp(f *flow, dir uint8, n int, salt uint32) int {
	f.msg.reset(frameOpaque, 0, salt)
	f.msg.total = n
	return n
}
