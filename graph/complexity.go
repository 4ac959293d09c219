package graph

import (
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph/model"
)

// passwordCost is the complexity of a field that hashes a password:
// ComplexityLimit allows four in one document.
const passwordCost = ComplexityLimit / 5

// catalogSize is what the model catalog is priced at: it is not paged, and
// a catalog synced from OpenRouter holds a few hundred models. Each list
// of it is a full read of the models table, which anyone may ask for, signed
// in or not: unpriced, one document could alias it a thousand times.
const catalogSize = 200

// complexity prices lists by how many items they may return, so that
// nesting pages inside pages hits ComplexityLimit long before the database
// feels it.
func complexity() ComplexityRoot {
	var c ComplexityRoot
	// A first over MaxPageSize is refused by the resolver anyway; clamping
	// it here keeps the product of nested pages from overflowing an int.
	n := func(first *int, def int) int {
		if first != nil && *first > 0 {
			return min(*first, wattfare.MaxPageSize+1)
		}
		return def
	}
	page := func(child int, first *int) int { return 1 + child*n(first, 20) }
	days := func(child int, from, to time.Time) int {
		d := int(to.Sub(from).Hours()/24) + 1
		return 1 + child*max(1, min(d, 367))
	}

	// Each sign-in or sign-up hashes a password with argon2id (19 MiB, tens
	// of milliseconds): priced so that one document holds at most a few,
	// rather than hundreds of aliased attempts that each cost that much.
	c.Mutation.SignIn = func(child int, input model.SignInInput) int { return passwordCost + child }
	c.Mutation.SignUp = func(child int, input model.SignUpInput) int { return passwordCost + child }
	c.Query.Models = func(child int) int { return 1 + child*catalogSize }
	c.Admin.Models = func(child int) int { return 1 + child*catalogSize }
	c.Admin.Catalog = func(child int, search string, first int) int { return 1 + child*max(1, min(first, catalogSize)) }
	c.Viewer.Apps = func(child int, first *int, after *string) int { return page(child, first) }
	c.Viewer.Connections = func(child int, mode *wattfare.Mode, first *int, after *string) int { return page(child, first) }
	c.Viewer.Receipts = func(child int, mode wattfare.Mode, from, to *time.Time, first *int, after *string) int {
		return 1 + child*n(first, 50)
	}
	c.Wallet.Ledger = func(child int, first *int, after *string) int { return page(child, first) }
	c.App.Connections = func(child int, mode wattfare.Mode, first *int, after *string) int { return page(child, first) }
	c.App.WebhookEndpoints = func(child int) int { return 1 + child*2*wattfare.MaxWebhookEndpoints }
	c.WebhookEndpoint.Deliveries = func(child int, first *int) int { return 1 + child*n(first, 20) }
	c.Viewer.Alerts = func(child int, mode wattfare.Mode, includeDismissed *bool, first *int) int {
		return 1 + child*n(first, 20)
	}
	// An account's connections in one mode: priced as a page of 50.
	c.AlertSettings.Connections = func(child int) int { return 1 + child*50 }
	c.App.UsageByDay = func(child int, mode wattfare.Mode, from, to time.Time) int { return days(child, from, to) }
	c.App.UsageByModel = func(child int, mode wattfare.Mode, from, to time.Time) int { return 1 + child*20 }
	c.App.UsageByUser = func(child int, mode wattfare.Mode, from, to time.Time, first *int) int { return 1 + child*n(first, 50) }
	c.Admin.Accounts = func(child int, first *int, after *string) int { return page(child, first) }
	c.Admin.Apps = func(child int, first *int, after *string) int { return page(child, first) }
	c.Admin.UsageByDay = func(child int, mode wattfare.Mode, from, to time.Time) int { return days(child, from, to) }
	c.Admin.UsageByApp = func(child int, mode wattfare.Mode, from, to time.Time, first *int) int { return 1 + child*n(first, 50) }
	c.Admin.UsageByModel = func(child int, mode wattfare.Mode, from, to time.Time) int { return 1 + child*20 }
	// The latest events are a list inside the object: priced here, by how
	// many of them the field asks for.
	c.Admin.Overrun = func(child int, mode wattfare.Mode, latest *int) int { return 1 + child*n(latest, 20) }
	c.Admin.AbandonedLeases = func(child int, mode wattfare.Mode, latest *int) int { return 1 + child*n(latest, 20) }
	return c
}
