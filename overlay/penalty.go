package overlay

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Strikes counts a peer's offences that GossipSub cannot see — above all,
// blocks nobody asked for, which is what a corrupted block is: bitswap
// derives a block's CID from its bytes, so a flipped byte arrives as an
// unwanted block and is dropped — and bans the peer for BanFor once it
// reaches Limit offences within BanFor. The decision is pure: time is
// passed in. Safe for concurrent use.
type Strikes struct {
	// Limit is the number of offences that bans a peer. Default 4:
	// enough to forgive a block that was in flight when its want was
	// cancelled, few enough that a bad peer wastes little.
	Limit int
	// BanFor is how long a ban lasts, and how long an offence counts.
	// Default 10 minutes.
	BanFor time.Duration

	mu sync.Mutex
	m  map[peer.ID]*strike
}

type strike struct {
	count int
	last  time.Time // of the latest offence
	until time.Time // banned until
}

func (s *Strikes) defaults() (int, time.Duration) {
	limit, ban := s.Limit, s.BanFor
	if limit <= 0 {
		limit = 4
	}
	if ban <= 0 {
		ban = 10 * time.Minute
	}
	return limit, ban
}

// Threshold returns the number of offences that bans a peer (Limit or its
// default).
func (s *Strikes) Threshold() int {
	limit, _ := s.defaults()
	return limit
}

// Charge records n offences by p at now. It returns true if they banned p
// (it was not banned before).
func (s *Strikes) Charge(p peer.ID, n int, now time.Time) bool {
	limit, ban := s.defaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[peer.ID]*strike{}
	}
	st := s.m[p]
	if st == nil {
		if len(s.m) >= 1<<16 { // bound memory: forget everyone not banned
			for q, o := range s.m {
				if !now.Before(o.until) {
					delete(s.m, q)
				}
			}
		}
		st = &strike{}
		s.m[p] = st
	}
	if now.Sub(st.last) > ban {
		st.count = 0 // old offences are forgiven
	}
	st.count += n
	st.last = now
	if st.count >= limit && !now.Before(st.until) {
		st.until = now.Add(ban)
		st.count = 0
		return true
	}
	return false
}

// Banned reports whether p is banned at now.
func (s *Strikes) Banned(p peer.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[p]
	return st != nil && now.Before(st.until)
}

// BannedCount returns how many peers are banned at now.
func (s *Strikes) BannedCount(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.m {
		if now.Before(st.until) {
			n++
		}
	}
	return n
}
