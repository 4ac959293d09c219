package wattfare

// Page asks for one page of a list that grows: at most First items after
// the opaque cursor After (Relay-style), which an earlier page handed out.
// Lists are newest first.
type Page struct {
	First int
	After string
}

// MaxPageSize bounds Page.First.
const MaxPageSize = 100

// Check returns the page's size, or EINVALID (field first) when First is
// not between 1 and MaxPageSize.
func (p Page) Check() (int, error) {
	if p.First < 1 || p.First > MaxPageSize {
		return 0, InvalidField("first", "must be between 1 and %d", MaxPageSize)
	}
	return p.First, nil
}

// Paged is one page of a list, with a cursor per item.
type Paged[T any] struct {
	Items   []T
	Cursors []string
	HasNext bool
	// HasPrev is true when the page starts after a cursor, so items
	// precede it.
	HasPrev bool
}

// StartCursor returns the cursor of the first item, or nil for an empty page.
func (p Paged[T]) StartCursor() *string {
	if len(p.Cursors) == 0 {
		return nil
	}
	c := p.Cursors[0]
	return &c
}

// EndCursor returns the cursor of the last item, or nil for an empty page.
func (p Paged[T]) EndCursor() *string {
	if len(p.Cursors) == 0 {
		return nil
	}
	c := p.Cursors[len(p.Cursors)-1]
	return &c
}
