package graph

// nonEmpty is s as a nullable GraphQL string: null when empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
