package graph

import (
	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph/model"
)

// edges pairs each item of p with its cursor. It never returns nil: the
// schema's edges are a non-null list.
func edges[T, E any](p wattfare.Paged[T], edge func(cursor string, node *T) *E) []*E {
	out := make([]*E, len(p.Items))
	for i := range p.Items {
		out[i] = edge(p.Cursors[i], &p.Items[i])
	}
	return out
}

func accountPage(p wattfare.Paged[wattfare.Account]) *model.AccountPage {
	return &model.AccountPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *wattfare.Account) *model.AccountEdge {
		return &model.AccountEdge{Cursor: c, Node: n}
	})}
}

func appPage(p wattfare.Paged[wattfare.AppDetails]) *model.AppPage {
	return &model.AppPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *wattfare.AppDetails) *model.AppEdge {
		return &model.AppEdge{Cursor: c, Node: n}
	})}
}

func connectionPage(p wattfare.Paged[wattfare.ConnectionSpend]) *model.ConnectionPage {
	return &model.ConnectionPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *wattfare.ConnectionSpend) *model.ConnectionEdge {
		return &model.ConnectionEdge{Cursor: c, Node: n}
	})}
}

func receiptPage(p wattfare.Paged[wattfare.Receipt]) *model.ReceiptPage {
	return &model.ReceiptPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *wattfare.Receipt) *model.ReceiptEdge {
		return &model.ReceiptEdge{Cursor: c, Node: n}
	})}
}

func ledgerPage(p wattfare.Paged[wattfare.LedgerEntry]) *model.LedgerPage {
	return &model.LedgerPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *wattfare.LedgerEntry) *model.LedgerEdge {
		return &model.LedgerEdge{Cursor: c, Node: n}
	})}
}
