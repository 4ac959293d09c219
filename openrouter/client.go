package openrouter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// DefaultURL is OpenRouter's base URL; the API is under /api/v1.
const DefaultURL = "https://openrouter.ai"

// maxModelsBody bounds the model list read from the network (OpenRouter's
// is a few MB).
const maxModelsBody = 64 << 20

// ErrUnavailable is wrapped by every failure to read the model list from
// OpenRouter (network, a non-2xx status): the sync changes nothing.
var ErrUnavailable = errors.New("openrouter: model list unavailable")

// Client reads OpenRouter's public API.
type Client struct {
	// BaseURL is like https://openrouter.ai (DefaultURL when empty).
	BaseURL string
	// HTTP is the client requests go through (one with a 30 s timeout when nil).
	HTTP *http.Client
}

// Models fetches GET /api/v1/models and parses it (ParseModels). It
// returns the URL it read, for the sync's record.
func (c *Client) Models(ctx context.Context) ([]wattfare.CatalogEntry, string, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		base = DefaultURL
	}
	url := base + "/api/v1/models"
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, url, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, url, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelsBody+1))
	if err != nil {
		return nil, url, fmt.Errorf("%w: reading %s: %v", ErrUnavailable, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, url, fmt.Errorf("%w: GET %s answered %s: %s", ErrUnavailable, url, resp.Status, snippet(body))
	}
	if len(body) > maxModelsBody {
		return nil, url, fmt.Errorf("%w: GET %s: body over %d bytes", ErrModelsDocument, url, maxModelsBody)
	}
	es, err := ParseModels(body)
	return es, url, err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
