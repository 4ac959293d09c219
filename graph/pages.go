package graph

import (
	"github.com/wattfare/wattfare/graph/model"
	"github.com/wattfare/wattfare/postgres"
)

func appPage(p postgres.Paged[postgres.App]) *model.AppPage {
	out := &model.AppPage{PageInfo: pageInfo(p), Edges: []*model.AppEdge{}}
	for i := range p.Items {
		out.Edges = append(out.Edges, &model.AppEdge{Cursor: p.Cursors[i], Node: &p.Items[i]})
	}
	return out
}

func connectionPage(p postgres.Paged[postgres.Connection]) *model.ConnectionPage {
	out := &model.ConnectionPage{PageInfo: pageInfo(p), Edges: []*model.ConnectionEdge{}}
	for i := range p.Items {
		out.Edges = append(out.Edges, &model.ConnectionEdge{Cursor: p.Cursors[i], Node: &p.Items[i]})
	}
	return out
}
