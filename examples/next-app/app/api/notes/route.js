// POST /api/notes {"text":"..."} -> 201 with the note, or 400.
const notes = [];

export async function POST(request) {
  const body = await request.json().catch(() => null);
  if (typeof body?.text !== 'string' || body.text === '') {
    return Response.json({ error: 'expected a JSON body like {"text": "..."}' }, { status: 400 });
  }
  const note = { id: notes.length + 1, text: body.text };
  notes.push(note);
  return Response.json(note, { status: 201 });
}
