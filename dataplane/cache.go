package dataplane

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/wattfare/wattfare"
)

// Catalog is what the data plane reads from the system of record to
// authenticate and price a request. package postgres implements it; the
// proxy only ever sees it through the cache. A miss is a *wattfare.Error
// with code ENOTFOUND.
type Catalog interface {
	// KeyBySecretHash returns the key whose secret hashes to hash, revoked or not.
	KeyBySecretHash(ctx context.Context, hash [32]byte) (wattfare.APIKey, error)
	App(ctx context.Context, id string) (wattfare.App, error)
	Connection(ctx context.Context, appID string, mode wattfare.Mode, appUserID string) (wattfare.Connection, error)
	Models(ctx context.Context) ([]wattfare.Model, error)
}

const (
	genKey = iota
	genApp
	genConn
	genCount
)

// cachedCatalog serves Catalog reads from ristretto. Entries are snapshots
// that can always be reloaded; change notifications delete them. Every
// entity type has a generation that each notification of that type bumps: a
// load writes its result back only if the generation did not move while it
// ran, so a reload that raced a notification (and may be older than what the
// notification announced) is never cached. Misses are remembered for a short
// TTL, tagged with the generation, so a key or connection created a moment
// later is seen as soon as its notification arrives.
type cachedCatalog struct {
	src     Catalog
	c       *ristretto.Cache[string, *entry]
	gen     [genCount]atomic.Uint64
	keyIDs  sync.Map // key id -> cache key, to delete a key's entry by the id in its notification
	models  atomic.Pointer[modelSet]
	mgen    atomic.Uint64
	negTTL  time.Duration
	posTTL  time.Duration
	metrics *Metrics // counts hits and misses
}

// entry is one cached lookup: a key, an app or a connection (only the one
// looked up is allocated: a cache of many connections keeps no room for
// keys and apps), or a remembered miss.
type entry struct {
	gen     uint64
	missing bool
	kid     wattfare.KeyID // key.ID parsed, to compare with a presented key without formatting it
	key     *wattfare.APIKey
	app     *wattfare.App
	conn    *wattfare.Connection
}

type modelSet struct {
	byID map[string]*wattfare.Model
	list []wattfare.Model
}

func newCachedCatalog(src Catalog, m *Metrics) (*cachedCatalog, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters:        100_000,
		MaxCost:            10_000,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &cachedCatalog{src: src, c: c, metrics: m, negTTL: 5 * time.Second, posTTL: 10 * time.Minute}, nil
}

func appendKeyKey(b []byte, hash *[32]byte) []byte { return append(append(b, 'k'), hash[:]...) }
func appendAppKey(b []byte, id string) []byte      { return append(append(b, 'a'), id...) }
func appendConnKey(b []byte, app string, mode wattfare.Mode, user string) []byte {
	b = append(append(b, 'c'), app...)
	b = append(append(b, 0), mode...)
	return append(append(b, 0), user...)
}

func appCacheKey(id string) string { return string(appendAppKey(nil, id)) }
func connCacheKey(app string, mode wattfare.Mode, user string) string {
	return string(appendConnKey(nil, app, mode, user))
}

// ckBuf is a scratch buffer for a lookup's cache key. ristretto only hashes
// the keys it is given (an entry keeps the two hashes, never the string),
// so a lookup passes a view of the buffer instead of allocating a string,
// and the buffer goes back to the pool when the lookup returns.
type ckBuf struct{ b []byte }

var ckPool = sync.Pool{New: func() any { return &ckBuf{b: make([]byte, 0, 128)} }}

// lookup returns the cached entry for ck, or loads it with load and caches
// the result unless a notification of its type arrived meanwhile.
func (cc *cachedCatalog) lookup(ck string, g int, load func(e *entry) error) (*entry, error) {
	cur := cc.gen[g].Load()
	if e, ok := cc.c.Get(ck); ok && (!e.missing || e.gen == cur) {
		cc.metrics.cacheHits.Add(1)
		return e, nil
	}
	cc.metrics.cacheMisses.Add(1)
	e := &entry{gen: cur}
	err := load(e)
	if wattfare.ErrorCode(err) == wattfare.ENOTFOUND {
		e.missing, err = true, nil
	}
	if err != nil {
		return nil, err
	}
	if cc.gen[g].Load() == cur {
		ttl := cc.posTTL
		if e.missing {
			ttl = cc.negTTL
		}
		cc.c.SetWithTTL(ck, e, 1, ttl)
	}
	return e, nil
}

// Key returns the key with the given secret hash, and its id parsed; ok is
// false when there is none (and the key nil). Key, App and Connection return
// the cached entry's snapshot (a request holds it without a copy): it is
// never written after it is cached, so it must not be written either.
func (cc *cachedCatalog) Key(ctx context.Context, hash *[32]byte) (*wattfare.APIKey, wattfare.KeyID, bool, error) {
	kb := ckPool.Get().(*ckBuf)
	kb.b = appendKeyKey(kb.b[:0], hash)
	ck := b2s(kb.b) // a view, valid until kb goes back to the pool
	e, err := cc.lookup(ck, genKey, func(e *entry) error {
		k, err := cc.src.KeyBySecretHash(ctx, *hash)
		if err == nil {
			e.key = &k
			e.kid, _ = wattfare.ParseKid(k.ID)
			cc.keyIDs.Store(k.ID, strings.Clone(ck))
		}
		return err
	})
	ckPool.Put(kb)
	if err != nil {
		return nil, wattfare.KeyID{}, false, err
	}
	return e.key, e.kid, !e.missing, nil
}

// App returns the app with id; ok is false when there is none.
func (cc *cachedCatalog) App(ctx context.Context, id string) (*wattfare.App, bool, error) {
	kb := ckPool.Get().(*ckBuf)
	kb.b = appendAppKey(kb.b[:0], id)
	e, err := cc.lookup(b2s(kb.b), genApp, func(e *entry) error {
		a, err := cc.src.App(ctx, id)
		if err == nil {
			e.app = &a
		}
		return err
	})
	ckPool.Put(kb)
	if err != nil {
		return nil, false, err
	}
	return e.app, !e.missing, nil
}

// Connection returns the connection of an app's user; ok is false when the
// user never connected the app in this mode.
func (cc *cachedCatalog) Connection(ctx context.Context, appID string, mode wattfare.Mode, user string) (*wattfare.Connection, bool, error) {
	kb := ckPool.Get().(*ckBuf)
	kb.b = appendConnKey(kb.b[:0], appID, mode, user)
	e, err := cc.lookup(b2s(kb.b), genConn, func(e *entry) error {
		c, err := cc.src.Connection(ctx, appID, mode, user)
		if err == nil {
			e.conn = &c
		}
		return err
	})
	ckPool.Put(kb)
	if err != nil {
		return nil, false, err
	}
	return e.conn, !e.missing, nil
}

// Models returns the catalog of models, loading it when a notification
// dropped it.
func (cc *cachedCatalog) Models(ctx context.Context) (*modelSet, error) {
	if m := cc.models.Load(); m != nil {
		return m, nil
	}
	g := cc.mgen.Load()
	list, err := cc.src.Models(ctx)
	if err != nil {
		return nil, err
	}
	m := &modelSet{byID: make(map[string]*wattfare.Model, len(list)), list: list}
	for i := range list {
		m.byID[list[i].ID] = &list[i]
	}
	if cc.mgen.Load() == g {
		cc.models.CompareAndSwap(nil, m)
	}
	return m, nil
}

// Invalidate drops what a change event makes stale.
func (cc *cachedCatalog) Invalidate(ev wattfare.ChangeEvent) {
	switch ev.Entity {
	case wattfare.EntityKey:
		cc.gen[genKey].Add(1)
		if ck, ok := cc.keyIDs.LoadAndDelete(ev.ID); ok {
			cc.c.Del(ck.(string))
		}
	case wattfare.EntityApp:
		cc.gen[genApp].Add(1)
		cc.c.Del(appCacheKey(ev.ID))
	case wattfare.EntityConnection:
		cc.gen[genConn].Add(1)
		cc.c.Del(connCacheKey(ev.AppID, ev.Mode, ev.AppUserID))
	case wattfare.EntityModel:
		cc.mgen.Add(1)
		cc.models.Store(nil)
	}
}

// Clear drops everything: after the listener reconnects, notifications may
// have been missed.
func (cc *cachedCatalog) Clear() {
	for i := range cc.gen {
		cc.gen[i].Add(1)
	}
	cc.mgen.Add(1)
	cc.models.Store(nil)
	cc.c.Clear()
	cc.keyIDs.Clear()
}

// Close stops the cache's goroutines.
func (cc *cachedCatalog) Close() { cc.c.Close() }
