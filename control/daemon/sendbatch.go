package daemon

import (
	"net/netip"

	"github.com/xvrrp/xvrrp/vip"
)

// sendBatch gathers the adverts of one scheduler batch (all the timers due
// at one wake-up) and sends them after it with one sendmmsg(2) per 64
// adverts and interface (vip.Sender.QueueAdvert and Flush), not one
// write(2) each: at 1,000 instances and 10 ms that is 100,000 syscalls a
// second fewer, and the encoding loop runs without the kernel's send path
// interleaved. Adverts sent outside a batch (an answer to a received one, a
// transition) go at once.
type sendBatch struct {
	on      bool
	senders []*vip.Sender
	seen    map[*vip.Sender]struct{}
	queued  []queuedSend // indexed by the tag handed to QueueAdvert
}

type queuedSend struct {
	r   *instance
	dst int // index into r.dsts
	err error
}

// queue adds r's advert to dst index i to the batch; an error when the
// sender refused it at once, which the caller notes as usual.
func (b *sendBatch) queue(r *instance, i int, payload []byte) error {
	if err := r.sender.QueueAdvert(r.dsts[i], r.src, payload, len(b.queued)); err != nil {
		return err
	}
	b.queued = append(b.queued, queuedSend{r: r, dst: i})
	if b.seen == nil {
		b.seen = map[*vip.Sender]struct{}{}
	}
	if _, ok := b.seen[r.sender]; !ok {
		b.seen[r.sender] = struct{}{}
		b.senders = append(b.senders, r.sender)
	}
	return nil
}

// flushSends sends the batch and notes each advert's outcome (errors are
// counted and logged when they change, as for adverts sent one by one).
func (d *Daemon) flushSends() {
	b := &d.batch
	for _, s := range b.senders {
		s.Flush(b.failed)
	}
	for i := range b.queued {
		q := &b.queued[i]
		d.noteSend(q.r, q.dst, q.err)
		*q = queuedSend{}
	}
	clear(b.seen)
	clear(b.senders)
	b.senders, b.queued = b.senders[:0], b.queued[:0]
}

func (b *sendBatch) failed(tag int, _ netip.Addr, err error) { b.queued[tag].err = err }
