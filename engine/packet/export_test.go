package packet

// SeedFrame is a test frame exported to the external test package (fuzz seeds).
type SeedFrame struct {
	Name string
	Link LinkType
	Data []byte
}

// SeedFrames returns every well-formed and malformed frame of the table tests.
func SeedFrames() []SeedFrame {
	var out []SeedFrame
	for _, c := range goodCases() {
		out = append(out, SeedFrame{c.name, c.link, c.data})
	}
	for _, c := range badCases() {
		out = append(out, SeedFrame{c.name, c.link, c.data})
	}
	return out
}
