// One-time notices: a guest that has no balloon, no statistics, stopped statistics, is at its
// maximum or starves on a short host is said so once, until the condition clears. This slice of a
// guest's remembered state is which have been given.

export interface NoticeMemory {
  reported: { noBalloon?: boolean; noStats?: boolean; statsStopped?: boolean; atMaximum?: boolean; hostShort?: boolean };
}

/** Gives `copy` (a shallow copy of a guest's state) its own copy of what this slice holds by reference. */
export function copyNoticeMemory(copy: NoticeMemory): void {
  if (typeof copy.reported === 'object' && copy.reported !== null) copy.reported = { ...copy.reported };
}
