// The one bound of an answer's text (ARCHITECTURE.md, "Bounds": a result). A provider's answer and a
// function's response are cut where they are received, so no step result grows past it, and the
// workflow cuts what reaches a result frame the same way; cutting twice changes nothing.

/** Answers longer than this are cut (with a note) so one result stays far under Temporal's 2 MB payload limit. */
export const MAX_ANSWER_CHARS = 64 * 1024;

/** The answer's first MAX_ANSWER_CHARS characters and a note saying it was cut; a shorter answer as it is. */
export function cutAnswer(text: string): string {
  return text.length > MAX_ANSWER_CHARS ? `${text.slice(0, MAX_ANSWER_CHARS)}\n[answer cut at ${MAX_ANSWER_CHARS} characters]` : text;
}
