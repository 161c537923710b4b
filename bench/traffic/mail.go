package traffic

// SMTP submission: the server's greeting and EHLO answer, then per message the
// envelope, DATA and an RFC 5322 message with a base64 body, then QUIT.

// smtpGreeting is the dialogue before the first message.
var smtpGreeting = [...]struct {
	dir  uint8
	text string
}{
	{srv, "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"},
	{cli, "EHLO client.example.net\r\n"},
	{srv, "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"},
}

// smtpMessage is the dialogue of one message; an empty text is the message itself.
var smtpMessage = [...]struct {
	dir  uint8
	text string
}{
	{cli, "MAIL FROM:<alice@example.net>\r\n"},
	{srv, "250 2.1.0 Ok\r\n"},
	{cli, "RCPT TO:<bob@example.org>\r\n"},
	{srv, "250 2.1.5 Ok\r\n"},
	{cli, "DATA\r\n"},
	{srv, "354 End data with <CR><LF>.<CR><LF>\r\n"},
	{cli, ""},
	{srv, "250 2.0.0 Ok: queued as 4F2A81C0D3\r\n"},
}

var smtpQuit = [...]struct {
	dir  uint8
	text string
}{{cli, "QUIT\r\n"}, {srv, "221 2.0.0 Bye\r\n"}}

// mailLine is the length of a base64 body line with its CRLF.
const mailLine = 78

// mailScript returns message k of an SMTP session (arg: k, rendered by renderMail).
func (g *Generator) mailScript(f *flow, k int, quick int64) (step, bool) {
	per := len(smtpMessage)
	n := len(smtpGreeting) + f.n*per + len(smtpQuit)
	if k >= n {
		return step{}, false
	}
	dir := mailText(f, k).dir
	d := quick
	switch {
	case dir == srv && k == 0:
		d = int64(g.lognormal(float64(30*ms), 0.6)) // the greeting after reverse DNS
	case dir == srv:
		d = int64(g.lognormal(float64(800*us), 0.8))
	case k > len(smtpGreeting) && (k-len(smtpGreeting))%per == 0:
		d = int64(g.lognormal(float64(200*ms), 1)) // the next message
	}
	return step{dir: dir, delay: d, content: contentApp, arg: k}, true
}

// mailText returns the dialogue line of message k of f's SMTP session.
func mailText(f *flow, k int) struct {
	dir  uint8
	text string
} {
	if k < len(smtpGreeting) {
		return smtpGreeting[k]
	}
	k -= len(smtpGreeting)
	if k < f.n*len(smtpMessage) {
		return smtpMessage[k%len(smtpMessage)]
	}
	return smtpQuit[min(k-f.n*len(smtpMessage), len(smtpQuit)-1)]
}

// renderMail lays out SMTP message st: a command or reply, or a mail of lognormal
// size (median 20 KB) with headers and base64 lines, ended by CRLF.CRLF.
func (g *Generator) renderMail(f *flow, st *step, salt uint32) int {
	m := &f.msg
	line := mailText(f, st.arg)
	if line.text != "" {
		m.reset(frameOpaque, 0, salt)
		m.puts(line.text)
		m.total = m.headN
		return m.total
	}
	m.reset(frameText, mailLine, salt)
	m.puts("From: Alice <alice@example.net>\r\nTo: Bob <bob@example.org>\r\nSubject: report ")
	m.hex(salt)
	m.puts("\r\nDate: Mon, 5 Jan 2026 09:00:00 +0000\r\nMessage-ID: <")
	m.hex(salt)
	m.puts("@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	size := clampF(g.lognormal(20e3, 1.2), 800, 5e6)
	lines := max(1, int(size)/mailLine)
	m.tailN = copy(m.tail[:], ".\r\n")
	m.total = m.headN + lines*mailLine + m.tailN
	return m.total
}
