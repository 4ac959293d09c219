package dataplane

import (
	"context"

	"github.com/wattfare/wattfare/dataplane/spend"
)

// EngineSpender adapts the spend engine to the proxy's Spender.
func EngineSpender(e *spend.Engine) Spender { return engineSpender{e} }

type engineSpender struct{ *spend.Engine }

func (e engineSpender) Admit(ctx context.Context, p spend.Payer, a spend.Admission) (Hold, error) {
	h, err := e.Engine.Admit(ctx, p, a)
	if err != nil {
		return nil, err
	}
	return h, nil
}

var _ Spender = engineSpender{}
