package graph

import (
	"github.com/wattfare/wattfare/graph/model"
	"github.com/wattfare/wattfare/postgres"
)

// edges pairs each item of p with its cursor. It never returns nil: the
// schema's edges are a non-null list.
func edges[T, E any](p postgres.Paged[T], edge func(cursor string, node *T) *E) []*E {
	out := make([]*E, len(p.Items))
	for i := range p.Items {
		out[i] = edge(p.Cursors[i], &p.Items[i])
	}
	return out
}

func accountPage(p postgres.Paged[postgres.Account]) *model.AccountPage {
	return &model.AccountPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *postgres.Account) *model.AccountEdge {
		return &model.AccountEdge{Cursor: c, Node: n}
	})}
}

func appPage(p postgres.Paged[postgres.App]) *model.AppPage {
	return &model.AppPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *postgres.App) *model.AppEdge {
		return &model.AppEdge{Cursor: c, Node: n}
	})}
}

func connectionPage(p postgres.Paged[postgres.Connection]) *model.ConnectionPage {
	return &model.ConnectionPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *postgres.Connection) *model.ConnectionEdge {
		return &model.ConnectionEdge{Cursor: c, Node: n}
	})}
}

func receiptPage(p postgres.Paged[postgres.Receipt]) *model.ReceiptPage {
	return &model.ReceiptPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *postgres.Receipt) *model.ReceiptEdge {
		return &model.ReceiptEdge{Cursor: c, Node: n}
	})}
}

func ledgerPage(p postgres.Paged[postgres.LedgerEntry]) *model.LedgerPage {
	return &model.LedgerPage{PageInfo: pageInfo(p), Edges: edges(p, func(c string, n *postgres.LedgerEntry) *model.LedgerEdge {
		return &model.LedgerEdge{Cursor: c, Node: n}
	})}
}
