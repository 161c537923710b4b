package traffic

import "encoding/binary"

// SMB2 over direct TCP (port 445): each message is a 4-byte session header and an
// SMB2 header with one command. A session negotiates, sets up, connects to a share,
// opens a file, reads (or writes) it in 64 KiB operations, closes it and idles.

// SMB2 commands.
const (
	smbNegotiate    = 0
	smbSessionSetup = 1
	smbTreeConnect  = 3
	smbCreate       = 5
	smbClose        = 6
	smbRead         = 8
	smbWrite        = 9
)

// smbIO is the size of one read or write operation.
const smbIO = 65536

// smbOpen is the command sequence before the file's operations.
var smbOpen = [...]uint16{smbNegotiate, smbSessionSetup, smbTreeConnect, smbCreate}

// smbScript returns message k of an SMB session: request and response of each command
// in turn (arg: the command, and the operation number for reads and writes).
func (g *Generator) smbScript(f *flow, k int, quick int64) (step, bool) {
	ops := (f.app.size + smbIO - 1) / smbIO
	cmd, i := k/2, 0
	switch {
	case cmd < len(smbOpen):
		cmd = int(smbOpen[cmd])
	case cmd < len(smbOpen)+ops:
		i = cmd - len(smbOpen)
		cmd = smbRead
		if f.app.sub == 1 {
			cmd = smbWrite
		}
	case cmd == len(smbOpen)+ops:
		cmd = smbClose
	default:
		return step{}, false
	}
	arg := cmd | i<<8 | k/2<<24
	if k%2 == 0 {
		return step{dir: cli, delay: quick, content: contentApp, arg: arg}, true
	}
	d := int64(g.lognormal(float64(150*us), 0.6))
	if cmd == smbRead {
		d = int64(g.lognormal(float64(600*us), 0.8)) // the file system
	}
	return step{dir: srv, delay: d, content: contentApp, arg: arg | 1<<7}, true
}

// renderSMB lays out SMB message arg (command, response bit 7, operation number).
func renderSMB(m *message, f *flow, arg int, salt uint32) int {
	cmd, resp, op := uint16(arg&0x7f), arg&0x80 != 0, arg>>8&0xffff
	m.reset(frameOpaque, 0, salt)
	m.put32(0) // session header, length below
	m.put(0xfe, 'S', 'M', 'B', 64, 0, 1, 0)
	m.put32(0) // status
	le16(m, cmd)
	le16(m, 32) // credits
	flags := uint32(0)
	if resp {
		flags = 1
	}
	le32(m, flags)
	le32(m, 0)                                   // next command
	le32(m, uint32(arg>>24))                     // message id
	le32(m, 0)                                   //
	le32(m, 0xfeff)                              // process id
	le32(m, treeID(cmd))                         // tree id
	le32(m, uint32(f.id))                        // session id
	le32(m, 0x1000)                              //
	m.headN += copy(m.head[m.headN:], zero16[:]) // signature
	data := smbBody(m, cmd, resp, op, f.app.size)
	m.total = m.headN + data
	binary.BigEndian.PutUint32(m.head[0:], uint32(m.total-4))
	return m.total
}

var zero16 [16]byte

// treeID is the tree a command is sent on (none before the tree connect).
func treeID(cmd uint16) uint32 {
	if cmd <= smbTreeConnect {
		return 0
	}
	return 1
}

// smbBody appends a command's body and returns how many data bytes follow it.
func smbBody(m *message, cmd uint16, resp bool, op, size int) int {
	n := min(smbIO, size-op*smbIO)
	switch {
	case cmd == smbNegotiate && !resp:
		m.put(36, 0, 2, 0, 1, 0, 0, 0, 0x7f, 0, 0, 0)
		noiseHead(m, 16, uint32(size)) // client GUID
		m.put(0, 0, 0, 0, 0, 0, 0, 0)  // start time
		m.put(0x02, 0x02, 0x10, 0x02)  // dialects 2.0.2, 2.1
	case cmd == smbNegotiate:
		m.put(65, 0, 1, 0, 0x10, 0x02, 0, 0)
		noiseHead(m, 16, 0x5e4f) // server GUID
		m.put(7, 0, 0, 0)
		for range 3 {
			le32(m, 1<<20) // max transact, read and write sizes
		}
		noiseHead(m, 16, 0x71) // system and start times
		m.put(0x80, 0, 0, 0, 0, 0, 0, 0)
	case cmd == smbSessionSetup && !resp:
		m.put(25, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0x58, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	case cmd == smbSessionSetup:
		m.put(9, 0, 0, 0, 0x48, 0, 0, 0)
	case cmd == smbTreeConnect && !resp:
		path := `\\fs.example.org\share`
		m.put(9, 0, 0, 0, 0x48, 0)
		le16(m, uint16(2*len(path)))
		utf16(m, path)
	case cmd == smbTreeConnect:
		m.put(16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 0x1f, 0)
	case cmd == smbCreate && !resp:
		name := `reports\q4.pdf`
		m.put(57, 0, 0, 0, 2, 0, 0, 0)
		m.headN += copy(m.head[m.headN:], zero16[:])
		m.put(0x89, 0, 0x12, 0, 0x80, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0x40, 0, 0, 0)
		m.put(0x78, 0)
		le16(m, uint16(2*len(name)))
		m.put(0, 0, 0, 0, 0, 0, 0, 0)
		utf16(m, name)
	case cmd == smbCreate:
		m.put(89, 0, 0, 0, 1, 0, 0, 0)
		noiseHead(m, 32, 0x99) // times
		le32(m, uint32(size))  // allocation size
		le32(m, 0)
		le32(m, uint32(size)) // end of file
		le32(m, 0)
		m.put(0x80, 0, 0, 0, 0, 0, 0, 0)
		noiseHead(m, 16, uint32(size)) // file id
		m.put(0, 0, 0, 0, 0, 0, 0, 0)
	case cmd == smbClose && !resp:
		m.put(24, 0, 0, 0, 0, 0, 0, 0)
		noiseHead(m, 16, uint32(size))
	case cmd == smbClose:
		m.put(60, 0, 0, 0, 0, 0, 0, 0)
		m.headN += copy(m.head[m.headN:], zero16[:])
		m.headN += copy(m.head[m.headN:], zero16[:])
		le32(m, uint32(size))
		le32(m, 0)
		le32(m, uint32(size))
		le32(m, 0)
		m.put(0x80, 0, 0, 0)
	case cmd == smbRead && !resp:
		smbIOHeader(m, 49, 0x50, n, op, size)
		m.put(0)
	case cmd == smbRead:
		m.put(17, 0, 0x50, 0)
		le32(m, uint32(n))
		m.put(0, 0, 0, 0, 0, 0, 0, 0)
		return n
	case cmd == smbWrite && !resp:
		smbIOHeader(m, 49, 0x70, n, op, size)
		m.put(0, 0, 0, 0)
		return n
	case cmd == smbWrite:
		m.put(17, 0, 0, 0)
		le32(m, uint32(n))
		m.put(0, 0, 0, 0, 0, 0, 0, 0)
	}
	return 0
}

// smbIOHeader appends the common part of read and write requests.
func smbIOHeader(m *message, structSize byte, dataOff byte, n, op, size int) {
	m.put(structSize, 0, dataOff, 0) // read: padding and flags; write: a 2-byte data offset
	le32(m, uint32(n))
	le32(m, uint32(op*smbIO))
	le32(m, 0)
	noiseHead(m, 16, uint32(size)) // file id
	if dataOff == 0x50 {
		le32(m, 1) // minimum count
	}
	m.put(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

func le16(m *message, v uint16) {
	binary.LittleEndian.PutUint16(m.head[m.headN:], v)
	m.headN += 2
}

func le32(m *message, v uint32) {
	binary.LittleEndian.PutUint32(m.head[m.headN:], v)
	m.headN += 4
}

// utf16 appends an ASCII string as UTF-16LE.
func utf16(m *message, s string) {
	for i := range len(s) {
		m.put(s[i], 0)
	}
}
