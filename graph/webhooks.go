package graph

import (
	"context"

	"github.com/wattfare/wattfare"
)

// webhookService is the webhook endpoints' service, or one that says they
// are not available (a handler built without it).
func (r *Resolver) webhookService() wattfare.WebhookService {
	if r.webhooks == nil {
		return noWebhooks{}
	}
	return r.webhooks
}

type noWebhooks struct{}

func errNoWebhooks() error {
	return wattfare.Errorf(wattfare.ECONFLICT, "webhooks are not available here")
}

func (noWebhooks) Create(context.Context, string, string, wattfare.Mode, string, []string) (wattfare.WebhookEndpoint, string, error) {
	return wattfare.WebhookEndpoint{}, "", errNoWebhooks()
}
func (noWebhooks) Update(context.Context, string, string, *string, []string, *bool) (wattfare.WebhookEndpoint, error) {
	return wattfare.WebhookEndpoint{}, errNoWebhooks()
}
func (noWebhooks) RollSecret(context.Context, string, string) (wattfare.WebhookEndpoint, string, error) {
	return wattfare.WebhookEndpoint{}, "", errNoWebhooks()
}
func (noWebhooks) Delete(context.Context, string, string) error { return errNoWebhooks() }
func (noWebhooks) ForApp(context.Context, string) ([]wattfare.WebhookEndpoint, error) {
	return []wattfare.WebhookEndpoint{}, nil
}
func (noWebhooks) Deliveries(context.Context, string, int) ([]wattfare.WebhookDelivery, error) {
	return []wattfare.WebhookDelivery{}, nil
}
func (noWebhooks) SendTest(context.Context, string, string) (wattfare.WebhookDelivery, error) {
	return wattfare.WebhookDelivery{}, errNoWebhooks()
}
func (noWebhooks) Resend(context.Context, string, string) (wattfare.WebhookDelivery, error) {
	return wattfare.WebhookDelivery{}, errNoWebhooks()
}
