package alerts

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// flushEvery bounds how long a written line waits in the file buffer.
const flushEvery = 200 * time.Millisecond

// redialEvery is the least time between two attempts to connect the socket.
const redialEvery = time.Second

// run writes queued events until Close, then what is still queued.
func (l *Log) run() {
	defer close(l.exited)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case e := <-l.ch:
			l.write(&e)
			for n := len(l.ch); n > 0; n-- { // write a burst before flushing
				e = <-l.ch
				l.write(&e)
			}
			l.flush()
		case r := <-l.reopen:
			for n := len(l.ch); n > 0; n-- {
				e := <-l.ch
				l.write(&e)
			}
			r <- l.doReopen()
		case <-tick.C:
			l.flush()
		case <-l.done:
			for n := len(l.ch); n > 0; n-- {
				e := <-l.ch
				l.write(&e)
			}
			l.flush()
			return
		}
	}
}

// write formats e and writes the line to the file (rotating it when full) and the socket.
func (l *Log) write(e *Event) {
	l.buf = AppendJSON(l.buf[:0], e)
	l.buf = append(l.buf, '\n')
	if l.bw != nil {
		if l.size > 0 && l.size+int64(len(l.buf)) > l.cfg.MaxBytes {
			if err := l.rotate(); err != nil {
				l.errs.Add(1)
			}
		}
		if l.bw != nil {
			if _, err := l.bw.Write(l.buf); err != nil {
				l.errs.Add(1)
			} else {
				l.size += int64(len(l.buf))
				l.written.Add(1)
			}
		}
	}
	if l.cfg.Socket != "" {
		l.send()
	}
}

// send writes the line to the socket, reconnecting at most once per redialEvery.
func (l *Log) send() {
	if l.conn == nil && time.Since(l.lastDial) >= redialEvery {
		l.dial()
	}
	if l.conn == nil {
		l.unsent.Add(1)
		return
	}
	l.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := l.conn.Write(l.buf); err != nil {
		l.unsent.Add(1)
		l.errs.Add(1)
		l.conn.Close()
		l.conn = nil
		return
	}
	l.sent.Add(1)
}

// dial connects the socket; a failure leaves it unconnected until the next try.
func (l *Log) dial() {
	l.lastDial = time.Now()
	c, err := net.DialTimeout("unix", l.cfg.Socket, 100*time.Millisecond)
	if err != nil {
		return
	}
	l.conn = c
}

func (l *Log) flush() {
	if l.bw != nil && l.bw.Buffered() > 0 {
		if err := l.bw.Flush(); err != nil {
			l.errs.Add(1)
		}
	}
}

// openFile opens the file for appending.
func (l *Log) openFile() error {
	f, err := os.OpenFile(l.cfg.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("alerts: %w", err)
	}
	l.file, l.bw, l.size = f, bufio.NewWriterSize(f, 64<<10), st.Size()
	return nil
}

// closeFile flushes and closes the file.
func (l *Log) closeFile() error {
	if l.file == nil {
		return nil
	}
	err := errors.Join(l.bw.Flush(), l.file.Close())
	l.file, l.bw = nil, nil
	if err != nil {
		return fmt.Errorf("alerts: closing %s: %w", l.cfg.File, err)
	}
	return nil
}

// rotate shifts File.(k) to File.(k+1) for k = Keep-1 down to 1, File to File.1, and
// opens a new File.
func (l *Log) rotate() error {
	err := l.closeFile()
	name := l.cfg.File
	for k := l.cfg.Keep - 1; k >= 1; k-- {
		from := name + "." + strconv.Itoa(k)
		if _, serr := os.Stat(from); serr == nil {
			err = errors.Join(err, os.Rename(from, name+"."+strconv.Itoa(k+1)))
		}
	}
	if l.cfg.Keep > 0 {
		err = errors.Join(err, os.Rename(name, name+".1"))
	} else {
		err = errors.Join(err, os.Remove(name))
	}
	l.rotated.Add(1)
	return errors.Join(err, l.openFile())
}

// doReopen reopens the file by its path and reconnects the socket.
func (l *Log) doReopen() error {
	l.reopened.Add(1)
	var err error
	if l.cfg.File != "" {
		err = errors.Join(l.closeFile(), l.openFile())
	}
	if l.cfg.Socket != "" {
		if l.conn != nil {
			l.conn.Close()
			l.conn = nil
		}
		l.dial()
	}
	if err != nil {
		l.errs.Add(1)
	}
	return err
}

// closeOutputs closes the file and the socket.
func (l *Log) closeOutputs() error {
	err := l.closeFile()
	if l.conn != nil {
		err = errors.Join(err, l.conn.Close())
		l.conn = nil
	}
	return err
}
