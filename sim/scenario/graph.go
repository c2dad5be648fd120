package scenario

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Role is what a node is in the fleet.
type Role uint8

// Roles.
const (
	RoleSeed Role = iota
	RoleGateway
	RoleController
	RoleSybil
)

func (r Role) String() string {
	return [...]string{"seed", "gateway", "controller", "sybil"}[r]
}

// Behaviour is how a node acts. Every seed is honest; Sybils are Silent.
type Behaviour uint8

// Behaviours.
const (
	Honest Behaviour = iota
	// Silent nodes receive but never forward gossip or serve blocks.
	Silent
	// Forger nodes publish forged advisories and relay nothing.
	Forger
	// BadBlocks nodes relay gossip but answer block requests with
	// corrupted data.
	BadBlocks
)

func (b Behaviour) String() string {
	return [...]string{"honest", "silent", "forger", "bad-blocks"}[b]
}

// Interval is a span of simulated time in seconds; To may be +Inf.
type Interval struct{ From, To float64 }

// Node is one simulated node.
type Node struct {
	Role      Role
	Behaviour Behaviour
	Site      int32
	// Offline lists, in order, the spans the node is offline.
	Offline []Interval
}

// Graph is the fleet a scenario describes: nodes and who dialled whom.
// Node indices: seeds first, then devices, then Sybils.
type Graph struct {
	Nodes   []Node
	Seeds   int
	Devices int
	// Adj lists each node's neighbours, in the order the connections were
	// made.
	Adj [][]int32
}

// Device returns the node index of device i.
func (g *Graph) Device(i int) int { return g.Seeds + i }

// IsDevice reports whether node n is a device (not a seed or a Sybil).
func (g *Graph) IsDevice(n int) bool { return n >= g.Seeds && n < g.Seeds+g.Devices }

// HonestDevice reports whether node n is a device that behaves.
func (g *Graph) HonestDevice(n int) bool { return g.IsDevice(n) && g.Nodes[n].Behaviour == Honest }

// Online reports whether node n is online at time t (seconds).
func (g *Graph) Online(n int, t float64) bool {
	for _, iv := range g.Nodes[n].Offline {
		if t >= iv.From && t < iv.To {
			return false
		}
	}
	return true
}

// Link returns the access link of node n.
func (s *Scenario) Link(r Role) Link {
	switch r {
	case RoleSeed:
		return s.Links.Seed
	case RoleGateway:
		return s.Links.Gateway
	}
	return s.Links.Controller
}

// Latency returns the one-way latency in seconds between nodes a and b
// before jitter: the mean of their classes' latencies. Jitter returns the
// jitter bound in seconds for the pair.
func (s *Scenario) Latency(g *Graph, a, b int) (latency, jitter float64) {
	la, lb := s.Link(g.Nodes[a].Role), s.Link(g.Nodes[b].Role)
	return (la.Latency.Seconds() + lb.Latency.Seconds()) / 2, max(la.Jitter.Seconds(), lb.Jitter.Seconds())
}

// NewRand returns the random source for a scenario seed and a stream: each
// use (topology, churn, engine) takes its own stream so that adding a draw
// to one does not shift the others.
func NewRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^stream))
}

// Build constructs the scenario's fleet. It is deterministic: the same
// scenario (seed included) gives the same graph. Call it after Defaults
// and Validate.
func Build(s *Scenario) *Graph {
	r := NewRand(s.Seed, 1)
	f := s.Fleet
	g := &Graph{Seeds: f.Seeds, Devices: f.Devices}
	g.Nodes = make([]Node, f.Seeds+f.Devices)
	for i := range f.Seeds {
		g.Nodes[i] = Node{Role: RoleSeed, Site: -1}
	}
	flat := f.GatewaysPerSite == 0
	siteOf := func(d int) int { return int(int64(d) * int64(f.Sites) / int64(f.Devices)) }
	siteStart := func(site int) int { // first device of a site
		return int((int64(site)*int64(f.Devices) + int64(f.Sites) - 1) / int64(f.Sites))
	}
	var gateways []int32 // node indices
	for d := range f.Devices {
		site := siteOf(d)
		role := RoleController
		if !flat && d-siteStart(site) < f.GatewaysPerSite {
			role = RoleGateway
			gateways = append(gateways, int32(g.Device(d)))
		}
		g.Nodes[g.Device(d)] = Node{Role: role, Site: int32(site)}
	}
	g.Adj = make([][]int32, len(g.Nodes), len(g.Nodes)+int(math.Ceil(s.Adversaries.Sybils.Factor*float64(4*f.Degree))))

	// Dialling.
	total := f.Seeds + f.Devices
	for d := range f.Devices {
		n := g.Device(d)
		if flat {
			g.dialRandom(r, n, f.Degree, total, func(i int) int { return i })
			continue
		}
		site := siteOf(d)
		lo, hi := siteStart(site), siteStart(site+1)
		g.dialRandom(r, n, f.Degree, hi-lo, func(i int) int { return g.Device(lo + i) })
		if g.Nodes[n].Role == RoleGateway {
			wan := len(gateways) + f.Seeds
			g.dialRandom(r, n, f.Degree, wan, func(i int) int {
				if i < f.Seeds {
					return i
				}
				return int(gateways[i-f.Seeds])
			})
		}
	}
	// Every seed holds at least Degree connections.
	for sd := range f.Seeds {
		for tries := 0; len(g.Adj[sd]) < f.Degree && tries < 16*f.Degree; tries++ {
			var n int
			if flat || len(gateways) == 0 {
				n = g.Device(r.IntN(f.Devices))
			} else {
				n = int(gateways[r.IntN(len(gateways))])
			}
			g.connect(sd, n)
		}
	}
	g.connectComponents(r)

	// Adversaries, never the Sybils' victim.
	victim := -1
	if s.Adversaries.Sybils.Factor > 0 {
		victim = g.Device(s.Adversaries.Sybils.Victim)
	}
	order := r.Perm(f.Devices)
	k := 0
	assign := func(count int, b Behaviour) {
		for ; count > 0 && k < len(order); k++ {
			n := g.Device(order[k])
			if n == victim {
				continue
			}
			g.Nodes[n].Behaviour = b
			count--
		}
	}
	assign(int(math.Round(s.Adversaries.SilentFraction*float64(f.Devices))), Silent)
	assign(s.Adversaries.Forgers, Forger)
	assign(s.Adversaries.BadBlocks, BadBlocks)

	// Sybils: Factor times the victim's honest connections, each also
	// dialling Degree-1 random devices so that it looks like one.
	if victim >= 0 {
		honest := len(g.Adj[victim])
		count := int(math.Ceil(s.Adversaries.Sybils.Factor * float64(honest)))
		for range count {
			n := len(g.Nodes)
			g.Nodes = append(g.Nodes, Node{Role: RoleSybil, Behaviour: Silent, Site: g.Nodes[victim].Site})
			g.Adj = append(g.Adj, nil)
			g.connect(n, victim)
			g.dialRandom(r, n, f.Degree-1, f.Devices, func(i int) int { return g.Device(i) })
		}
	}

	s.churn(g, NewRand(s.Seed, 2))
	return g
}

// dialRandom connects n to up to want distinct random members of a pool of
// size pool (member i is node at(i)), skipping itself and existing links.
func (g *Graph) dialRandom(r *rand.Rand, n, want, pool int, at func(int) int) {
	if pool <= 1 {
		return
	}
	for made, tries := 0, 0; made < want && tries < 8*want; tries++ {
		m := at(r.IntN(pool))
		if g.connect(n, m) {
			made++
		}
	}
}

// connect adds the link a–b unless it exists or a == b.
func (g *Graph) connect(a, b int) bool {
	if a == b {
		return false
	}
	short, other := a, b
	if len(g.Adj[b]) < len(g.Adj[a]) {
		short, other = b, a
	}
	if slices.Contains(g.Adj[short], int32(other)) {
		return false
	}
	g.Adj[a] = append(g.Adj[a], int32(b))
	g.Adj[b] = append(g.Adj[b], int32(a))
	return true
}

// connectComponents joins every component to the one holding the first
// seed, so that no device is unreachable by construction.
func (g *Graph) connectComponents(r *rand.Rand) {
	n := len(g.Nodes)
	comp := make([]int32, n)
	for i := range comp {
		comp[i] = -1
	}
	var stack []int32
	var reps []int
	for start := range n {
		if comp[start] >= 0 {
			continue
		}
		id := int32(len(reps))
		reps = append(reps, start)
		comp[start] = id
		stack = append(stack[:0], int32(start))
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, w := range g.Adj[v] {
				if comp[w] < 0 {
					comp[w] = id
					stack = append(stack, w)
				}
			}
		}
	}
	for _, rep := range reps[1:] {
		// Link the component's first node to a random node of the main one.
		for {
			m := r.IntN(n)
			if comp[m] == 0 {
				g.connect(rep, m)
				break
			}
		}
	}
}

// churn fills in the offline spans of devices and seeds.
func (s *Scenario) churn(g *Graph, r *rand.Rand) {
	c := s.Churn
	away := func() float64 {
		if c.RejoinMean <= 0 {
			return math.Inf(1)
		}
		return r.ExpFloat64() * c.RejoinMean.Seconds()
	}
	order := r.Perm(g.Devices)
	off := int(math.Round(c.OfflineFraction * float64(g.Devices)))
	for _, d := range order[:off] {
		n := g.Device(d)
		g.Nodes[n].Offline = append(g.Nodes[n].Offline, Interval{0, away()})
	}
	rest := order[off:]
	leave := int(math.Round(c.LeaveFraction * float64(len(rest))))
	for _, d := range rest[:leave] {
		n := g.Device(d)
		from := r.ExpFloat64() * c.LeaveMean.Seconds()
		g.Nodes[n].Offline = append(g.Nodes[n].Offline, Interval{from, from + away()})
	}
	for i := range g.Seeds {
		for _, o := range s.SeedOutages {
			g.Nodes[i].Offline = append(g.Nodes[i].Offline, Interval{o.Start.Seconds(), o.Start.Seconds() + o.Duration.Seconds()})
		}
	}
}

// Partitioned reports whether a packet between nodes a and b sent at t
// seconds is held by a partition, and until when.
func (s *Scenario) Partitioned(g *Graph, a, b int, t float64) (until float64, held bool) {
	side := func(n int) int {
		if n < g.Seeds {
			return 0
		}
		return (n - g.Seeds) % 2
	}
	if side(a) == side(b) {
		return 0, false
	}
	for _, p := range s.Partitions {
		from, to := p.Start.Seconds(), p.Start.Seconds()+p.Duration.Seconds()
		if t >= from && t < to {
			return to, true
		}
	}
	return 0, false
}
