// Internationalisation for the agent console: one dictionary, two languages.
//
// Every label on both pages comes from DICT below. Static markup names its
// label with data-i18n="key" (textContent), data-i18n-placeholder,
// data-i18n-title or data-i18n-aria-label; applyTranslations() fills them in.
// Dynamic parts call t(key, params) while they build the DOM.
//
// Nothing here ever writes HTML: params are substituted into plain strings
// which callers put into textContent.

export const LANG_STORAGE_KEY = 'ctidesk_lang';

export const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '中文' },
];

export const DICT = {
  en: {
    'app.name': 'CTI Desk',
    'lang.label': 'Language',

    'login.page_title': 'Sign in — CTI Desk',
    'login.title': 'Agent sign in',
    'login.subtitle': 'Use your call-center account.',
    'login.username': 'Username',
    'login.password': 'Password',
    'login.submit': 'Sign in',
    'login.submitting': 'Signing in…',
    'login.error.missing': 'Enter your username and password.',
    'login.error.credentials': 'Wrong username or password.',
    'login.error.rate_limited': 'Too many sign-in attempts. Wait a moment and try again.',
    'login.error.server': 'The server could not sign you in (error {status}).',
    'login.error.network': 'Cannot reach the server. Check your connection.',
    'login.footer': 'Calls, customers and tickets in one place.',

    'desk.page_title': 'Agent desk — CTI Desk',
    'desk.page_title_ringing': '☎ {caller} — CTI Desk',
    'header.extension': 'Ext. {ext}',
    'header.no_extension': 'No extension',
    'header.queues': 'Queues',
    'header.no_queues': 'none',

    'state.logged_out': 'Logged out',
    'state.available': 'Available',
    'state.ringing': 'Ringing',
    'state.on_call': 'On call',
    'state.paused': 'Paused',
    'state.paused_reason': 'Paused: {reason}',

    'ws.connecting': 'Connecting…',
    'ws.connected': 'Connected',
    'ws.reconnecting': 'Reconnecting…',

    'queue.login': 'Log in to queues',
    'queue.logout': 'Log out of queues',
    'signout': 'Sign out',

    'error.request': 'Request failed (error {status}).',
    'error.network': 'Cannot reach the server.',
    'error.dismiss': 'Dismiss message',

    'idle.title': 'Waiting for calls',
    'idle.hint': 'Incoming calls appear here automatically, with the caller’s record and history.',
    'idle.hint_logged_out': 'You are not logged in to any queue. Use “Log in to queues” to start taking calls.',

    'pop.status.ringing': 'Incoming call',
    'pop.status.answered': 'Connected',
    'pop.status.answered_other': 'Answered by another agent',
    'pop.status.answered_other_named': 'Answered by another agent ({agent})',
    'pop.status.ended': 'Call ended',
    'pop.status.ended_outcome': 'Call ended — {outcome}',
    'pop.unknown_name': 'Unknown caller',
    'pop.withheld': 'Number withheld',
    'pop.normalized': 'Normalized: {number}',
    'pop.queue': 'Queue',
    'pop.no_queue': 'Direct',
    'pop.waiting': 'Waiting',
    'pop.called': 'Dialled number',
    'pop.ringing_at': 'Ringing since',
    'pop.ivr': 'IVR choices',
    'pop.ivr_none': 'The caller did not go through an IVR menu.',
    'pop.ivr_step': '{node}: {digits}',
    'pop.ivr_no_digits': '{node}',
    'pop.dismiss': 'Dismiss',

    'pop.customer': 'Customer',
    'pop.provisional_notice': 'Unknown caller — provisional record #{id} created',
    'pop.provisional_hint': 'Confirm the caller’s details and complete the record during the call.',
    'pop.no_customer': 'Unknown caller — no customer record',
    'pop.provisional_badge': 'Provisional',
    'customer.unnamed': 'Unnamed customer',
    'customer.id': 'Record',
    'customer.kind': 'Type',
    'customer.phones': 'Phone numbers',
    'customer.no_phones': 'No phone numbers',
    'customer.notes': 'Notes',
    'customer.no_notes': 'No notes',
    'customer.created': 'Created',
    'customer.kind.person': 'Individual',
    'customer.kind.individual': 'Individual',
    'customer.kind.company': 'Company',
    'customer.kind.business': 'Business',
    'customer.kind.unknown': 'Unknown',
    'phone.kind.mobile': 'Mobile',
    'phone.kind.landline': 'Landline',
    'phone.kind.fixed': 'Landline',
    'phone.kind.work': 'Work',
    'phone.kind.home': 'Home',
    'phone.kind.fax': 'Fax',
    'phone.kind.other': 'Other',

    'pop.history': 'Call history',
    'pop.history_count': '{n} calls',
    'history.when': 'Date',
    'history.direction': 'Direction',
    'history.queue': 'Queue',
    'history.agent': 'Agent',
    'history.outcome': 'Outcome',
    'history.duration': 'Duration',
    'history.empty': 'No previous calls from this number.',
    'direction.inbound': 'Inbound',
    'direction.outbound': 'Outbound',
    'direction.internal': 'Internal',
    'outcome.answered': 'Answered',
    'outcome.completed': 'Completed',
    'outcome.abandoned': 'Abandoned',
    'outcome.missed': 'Missed',
    'outcome.no_answer': 'No answer',
    'outcome.busy': 'Busy',
    'outcome.failed': 'Failed',
    'outcome.timeout': 'Timed out',
    'outcome.voicemail': 'Voicemail',
    'outcome.transferred': 'Transferred',
    'outcome.callback': 'Callback requested',
    'outcome.ivr_hangup': 'Hung up in IVR',
    'outcome.hangup': 'Hung up',

    'pop.tickets': 'Open tickets',
    'pop.tickets_count': '{n} open',
    'tickets.empty': 'No open tickets.',
    'ticket.created': 'Opened {when}',
    'ticket.type.complaint': 'Complaint',
    'ticket.type.repair': 'Repair',
    'ticket.type.inquiry': 'Inquiry',
    'ticket.type.question': 'Question',
    'ticket.type.callback': 'Callback',
    'ticket.type.incident': 'Incident',
    'ticket.type.request': 'Request',
    'ticket.type.billing': 'Billing',
    'ticket.state.new': 'New',
    'ticket.state.open': 'Open',
    'ticket.state.in_progress': 'In progress',
    'ticket.state.pending': 'Pending',
    'ticket.state.waiting': 'Waiting',
    'ticket.state.assigned': 'Assigned',
    'ticket.state.resolved': 'Resolved',
    'ticket.state.closed': 'Closed',

    'ticket.type.install': 'Installation',
    'ticket.type.consultation': 'Consultation',
    'ticket.type.suggestion': 'Suggestion',
    'priority.low': 'Low',
    'priority.normal': 'Normal',
    'priority.high': 'High',
    'priority.urgent': 'Urgent',
    'work.new_ticket': 'New ticket',
    'work.type': 'Type',
    'work.priority': 'Priority',
    'work.description': 'Description',
    'work.product': 'Product model',
    'work.address': 'Address',
    'work.submit': 'Create ticket',
    'work.submitting': 'Creating…',
    'work.created': 'Ticket #{id} created',
    'work.prefill_caller': 'Caller: {number}',
    'work.prefill_ivr': 'IVR choice: {ivr}',
    'work.no_customer': 'This call has no customer record, so no ticket can be created here.',
    'work.attach': 'Attach this call',
    'work.attached': 'Call attached',
    'work.error_detail': 'Request failed (error {status}): {detail}',
    'mywork.title': 'My work',
    'mywork.tickets': 'My open tickets',
    'mywork.tickets_empty': 'No open tickets assigned to you.',
    'mywork.callbacks': 'My callbacks',
    'mywork.callbacks_empty': 'No pending callbacks.',
    'mywork.loading': 'Loading…',
    'mywork.customer': 'Customer #{id}',
    'callback.due': 'Due {when}',
    'callback.overdue': 'Overdue',
    'callback.outcome': 'Outcome',
    'callback.outcome_choose': 'Choose…',
    'callback.outcome.reached': 'Reached',
    'callback.outcome.no_answer': 'No answer',
    'callback.outcome.busy': 'Busy',
    'callback.outcome.wrong_number': 'Wrong number',
    'callback.outcome.refused': 'Refused',
    'callback.satisfaction': 'Satisfaction (1–5)',
    'callback.satisfaction_choose': '—',
    'callback.notes': 'Notes',
    'callback.save': 'Save result',
    'callback.dial': 'Call',
    'callback.dialing': 'Calling — your phone rings first',
    'callback.error.outcome': 'Choose an outcome.',
    'callback.error.satisfaction': 'Satisfaction (1–5) is required when the customer was reached.',

    // supervisor: wallboard and reports (issue 6)
    'wb.title': 'Wallboard', 'wb.reports': 'Reports', 'wb.wallboard': 'Wallboard',
    'wb.col.agent': 'Agent', 'wb.col.state': 'State', 'wb.col.time': 'Time in state',
    'wb.col.queues': 'Queues', 'wb.col.actions': 'Actions',
    'wb.q.waiting': 'waiting', 'wb.q.longest': 'longest wait', 'wb.q.sl': 'service level',
    'wb.q.available': 'Available', 'wb.q.on_call': 'On a call', 'wb.q.paused': 'Paused',
    'wb.q.logged_in': 'Logged in', 'wb.q.answered': 'Answered', 'wb.q.abandoned': 'Abandoned',
    'wb.q.asa': 'ASA', 'wb.q.aht': 'AHT',
    'wb.state.logged_out': 'Logged out', 'wb.state.available': 'Available', 'wb.state.ringing': 'Ringing',
    'wb.state.on_call': 'On a call', 'wb.state.on_hold': 'On hold', 'wb.state.wrap_up': 'Wrap-up',
    'wb.state.paused': 'Paused', 'wb.state.unavailable': 'Phone unreachable',
    'wb.pause': 'Pause', 'wb.unpause': 'Resume', 'wb.pause_reason': 'Pause reason', 'wb.logout': 'Log out',
    'wb.listen': 'Listen', 'wb.whisper': 'Whisper', 'wb.barge': 'Barge in',
    'wb.ws.connecting': 'Connecting…', 'wb.ws.connected': 'Live', 'wb.ws.resyncing': 'Catching up…',
    'wb.ws.closed': 'Disconnected', 'wb.error': 'The action failed.',
    'wb.forbidden': 'Only supervisors can see the wallboard.', 'wb.sla_breached': 'Ticket #{id} breached its SLA.',
    'rp.title': 'Reports', 'rp.from': 'From', 'rp.to': 'To', 'rp.interval': 'Interval', 'rp.run': 'Run',
    'rp.csv': 'CSV', 'rp.xlsx': 'Excel', 'rp.calls': 'Call volume', 'rp.queues': 'Queue quality',
    'rp.workload': 'Agent workload', 'rp.business': 'Business volume', 'rp.formulas': 'How each figure is computed',
    'rp.repairs_by_fault': 'Repair tickets by fault', 'rp.fault_class': 'Fault class',
    'rp.fault_phenomenon': 'Phenomenon', 'rp.count': 'Tickets', 'rp.unclassified': '(not classified)',
    'rp.empty': 'No data in this period.',
    'rp.satisfaction': 'Post-call satisfaction (average score, 1-5)', 'rp.low_scores': '{n} low',
    'rp.no_surveys': 'No post-call surveys in this period.',
    'monitor.notice.listen': 'A supervisor is listening to this call.',
    'monitor.notice.whisper': 'A supervisor is coaching you on this call (the caller cannot hear).',
    'monitor.notice.barge': 'A supervisor has joined this call.',
    'rec.title': 'Recording', 'rec.play': 'Play', 'rec.show': 'Recordings', 'rec.none': 'No recordings.',
    'rec.start': 'Record', 'rec.stop': 'Stop recording', 'rec.pause': 'Pause recording', 'rec.resume': 'Resume recording',
    'rec.state.off': 'Not recording', 'rec.state.recording': '● Recording', 'rec.state.paused': 'Recording paused',
    'rec.kind.full': 'Full call', 'rec.kind.on_demand': 'On demand', 'rec.kind.voicemail': 'Voicemail',
    'rec.status.recording': 'Still recording', 'rec.status.pending': 'Being stored…', 'rec.status.stored': 'Stored',
    'rec.status.failed': 'Recording failed', 'rec.status.missing': 'File missing', 'rec.status.purged': 'Removed by retention',
    'rec.error.network': 'Cannot reach the server. Check your connection.',
    'rec.error.generic': 'The server refused (error {status}).',
    'rec.page_title': 'Recordings — CTI Desk', 'rec.search': 'Search', 'rec.agent': 'Agent', 'rec.from': 'From',
    'rec.to': 'To', 'rec.number': 'Number (whole or part)', 'rec.text': 'Description or tag', 'rec.kind': 'Kind',
    'rec.any': 'Any', 'rec.ticket': 'Ticket #', 'rec.min_duration': 'Min. seconds', 'rec.max_duration': 'Max. seconds',
    'rec.results': '{n} shown', 'rec.more': 'More', 'rec.col.when': 'Started', 'rec.col.agent': 'Agent',
    'rec.col.caller': 'Caller', 'rec.col.called': 'Called', 'rec.col.duration': 'Duration', 'rec.col.kind': 'Kind',
    'rec.col.status': 'Status', 'rec.back': 'Back to the desk',
    'sp.title': 'Softphone',
    'sp.extension': 'Ext. {ext}',
    'sp.reg.off': 'Off',
    'sp.reg.connecting': 'Connecting…',
    'sp.reg.registered': 'Registered',
    'sp.reg.unregistered': 'Not registered',
    'sp.reg.reconnecting': 'Connection lost, reconnecting…',
    'sp.reg.failed': 'Cannot connect',
    'sp.hint.cert_before': 'The browser does not trust the phone server’s certificate yet: open ',
    'sp.hint.cert_after': ' once to trust the sandbox certificate. The phone then reconnects by itself.',
    'sp.hint.register': 'Registration refused: {cause}.',
    'sp.idle': 'No call',
    'sp.unknown_caller': 'Unknown caller',
    'sp.call.ringing': 'Ringing',
    'sp.call.connecting': 'Connecting…',
    'sp.call.active': 'In call',
    'sp.call.held': 'On hold',
    'sp.call.ended': 'Call ended',
    'sp.call.missed': 'Missed call',
    'sp.answer': 'Answer',
    'sp.reject': 'Reject',
    'sp.hangup': 'Hang up',
    'sp.mute': 'Mute',
    'sp.unmute': 'Unmute',
    'sp.hold': 'Hold',
    'sp.unhold': 'Resume',
    'sp.mic_on': 'Microphone on',
    'sp.mic_off': 'Microphone muted',
    'sp.dtmf': 'Keypad',
    'sp.missed': 'Missed calls ({n})',
    'sp.missed_clear': 'Clear',
    'sp.sound_off': 'Click anywhere on the page to hear the ring tone',
    'sp.cause.no_mic': 'No microphone: allow this site to use it',
    'sp.cause.connection': 'The connection to the phone server dropped',
    'sp.cause.rtp_timeout': 'No audio from the phone server',
    'sp.cause.media': 'The browser and the phone server found no common audio format',
    'value.none': '—',
    // transfer (issue 11, transfer.js)
    'xfer.title': 'Transfer',
    'xfer.mode': 'How',
    'xfer.blind': 'Blind (hand over now)',
    'xfer.attended': 'Attended (talk to them first)',
    'xfer.target_kind': 'To',
    'xfer.to_expert': 'An expert or agent',
    'xfer.to_queue': 'A queue',
    'xfer.expert': 'Username',
    'xfer.expert_placeholder': 'e.g. erin',
    'xfer.queue': 'Queue',
    'xfer.notes': 'Notes for the next seat',
    'xfer.notes_placeholder': 'What the caller needs, what was tried',
    'xfer.submit': 'Transfer the caller',
    'xfer.sending': 'Transferring…',
    'xfer.requested': 'Transfer requested.',
    'xfer.consulting': 'Calling them: talk, then hang up to hand the caller over.',
    'xfer.done': 'The caller was transferred to {target}.',
    'xfer.failed': 'The transfer failed (error {status}): {detail}',
    'xfer.need_target': 'Enter the username to transfer to.',
    'xfer.handoff_title': 'Handed over by {agent}',
    'xfer.consult_with': 'Consulting {target}; the caller is on hold.',
    'xfer.threeway': '3-way call with {other} and the caller. Hang up to leave them together.',
    'xfer.btn.threeway': 'Bring the caller in (3-way)',
    'xfer.btn.complete': 'Hand over now',
    'xfer.btn.cancel': 'Back to the caller',
    'xfer.joining': 'Bringing the caller in…',
    'xfer.completing': 'Handing the caller over…',
    'xfer.cancelled': 'Transfer cancelled: you are back with the caller.',
    'xfer.role.expert': 'expert',
    'xfer.role.agent': 'agent',
    'xfer.no_notes': 'No notes.',
    'kb.title': 'Knowledge base',
    'kb.placeholder': 'Search articles, e.g. 滚筒不转 or E21',
    'kb.search': 'Search',
    'kb.searching': 'Searching…',
    'kb.none': 'No article found.',
    'kb.failed': 'The knowledge base could not answer (error {status}): {detail}',
    'kb.suggested': 'Suggested for this call',
    'kb.close': 'Close',
    'kb.attach': 'Attach to ticket',
    'kb.ticket_option': '#{id} {type}: {description}',
    'kb.attached': 'Attached to ticket #{ticket}.',
    'kb.attach_failed': 'Could not attach (error {status}): {detail}',
    // catalogue in the pop: answer scripts, fault pickers (catalog-desk.js, issue 14)
    'script.title': 'Script: {type}', 'script.opening': 'Opening', 'script.questions': 'Ask',
    'script.closing': 'Closing', 'script.none': 'No script for this ticket type yet.',
    'script.loading': 'Loading the script…', 'script.failed': 'The script could not be loaded (error {status}).',
    'work.fault_class': 'Fault class', 'work.fault_phenomenon': 'Fault phenomenon', 'work.fault_choose': '— choose —',
    'work.fault_causes': 'Likely causes and remedies', 'work.fault_loading': 'Loading the fault list…',
    'work.fault_unavailable': 'The fault list could not be loaded (error {status}).',
    // /admin/catalog (catalog-admin.js, issue 14)
    'cat.title': 'Products & faults', 'cat.back': 'Administration', 'cat.products': 'Product catalogue',
    'cat.categories': 'Categories', 'cat.models': 'Models', 'cat.faults': 'Fault taxonomy',
    'cat.faults_hint': 'Fault class → phenomenon → likely cause and remedy. Codes never change; labels may. Deactivate instead of deleting.',
    'cat.add_category': 'Add category', 'cat.add_model': 'Add model', 'cat.add_class': 'Add fault class',
    'cat.add_phenomenon': '+ phenomenon', 'cat.add_cause': '+ cause', 'cat.edit': 'Edit', 'cat.deactivate': 'Deactivate',
    'cat.activate': 'Activate', 'cat.active': 'active', 'cat.inactive': 'inactive', 'cat.save': 'Save',
    'cat.cancel': 'Cancel', 'cat.saved': 'Saved {code}.', 'cat.deactivated': '{code} deactivated.',
    'cat.activated': '{code} activated.', 'cat.all_products': 'every product',
    'cat.field.code': 'Code', 'cat.field.name_zh': 'Name (中文)', 'cat.field.name_en': 'Name (English)',
    'cat.field.category_code': 'Category', 'cat.field.class_code': 'Fault class',
    'cat.field.phenomenon_code': 'Phenomenon', 'cat.field.remedy_zh': 'Remedy (中文)',
    'cat.field.remedy_en': 'Remedy (English)', 'cat.field.sort': 'Order',
    // /kb/editor (kb-editor.js, issue 14)
    'kbe.title': 'Knowledge editor', 'kbe.forbidden': 'Only an administrator or an expert may edit the knowledge base.',
    'kbe.articles': 'Articles', 'kbe.new': 'New article', 'kbe.editing': 'Article #{id}', 'kbe.version': 'version {version}',
    'kbe.state.draft': 'draft', 'kbe.state.published': 'published',
    'kbe.field.title': 'Title', 'kbe.field.body': 'Text (Markdown)', 'kbe.field.products': 'Product models (comma-separated)',
    'kbe.field.fault_codes': 'Fault codes (comma-separated)', 'kbe.field.tags': 'Tags (comma-separated)',
    'kbe.preview': 'Preview', 'kbe.show_preview': 'Preview', 'kbe.save': 'Save', 'kbe.publish': 'Publish',
    'kbe.unpublish': 'Unpublish', 'kbe.history': 'Version history', 'kbe.show': 'Show',
    'kbe.saved': 'Saved as version {version}.', 'kbe.published': 'Published (version {version}).',
    'kbe.unpublished': 'Back to draft (version {version}).', 'kbe.reloaded': 'Their version is loaded.',
    'kbe.conflict': 'Someone else saved this article while you were editing it.',
    'kbe.load_theirs': 'Load their version (drop my changes)', 'kbe.overwrite': 'Save my text over theirs',
    'kbe.version_line': 'v{version} · {state} · {editor} · {when}',
    'kbs.title': 'Answer scripts by ticket type', 'kbs.opening': 'Opening', 'kbs.questions': 'Questions to ask (one a line)',
    'kbs.closing': 'Closing', 'kbs.new': 'not written yet',
    // Administration (admin.html, issue 14)
    'ad.title': 'Administration', 'ad.nav.sites': 'Sites & technicians', 'ad.nav.sla': 'SLA levels',
    'ad.nav.pause': 'Pause reasons', 'ad.nav.calendar': 'Calendar & holidays', 'ad.nav.ivr': 'IVR menu',
    'ad.nav.catalog': 'Products & faults', 'ad.nav.kb': 'Knowledge editor',
    'ad.forbidden': 'Only an administrator may change base data.', 'ad.network': 'Cannot reach the server.',
    'ad.failed': 'The server refused (error {status}).',
    'ad.meta.file': 'Version {version}: the shipped configuration file (not edited in the browser yet).',
    'ad.meta.db': 'Version {version}, saved by {who} at {at}.',
    'ad.save': 'Save', 'ad.saving': 'Saving…', 'ad.saved': 'Saved as version {version}; in force now.',
    'ad.not_saved': 'Not saved: {count} problem(s), shown next to their fields.', 'ad.valid': 'No problems found.',
    'ad.stale': 'Reload the page and apply your change again.', 'ad.check': 'Check',
    'ad.comment': 'What changed (optional)', 'ad.show_history': 'History', 'ad.history': 'Saved versions',
    'ad.history.none': 'Never saved in the browser.', 'ad.restore': 'Restore', 'ad.in_force': 'in force',
    'ad.add': 'Add', 'ad.remove': 'Remove', 'ad.x': '×',
    'ad.sla.help': 'Durations are business time: 2h, 30m, 1h30m, 1d (one business day). Warn before: a fraction (0.25) or a duration.',
    'ad.sla.level': 'Level', 'ad.sla.respond': 'Respond within', 'ad.sla.resolve': 'Resolve within',
    'ad.sla.warn': 'Warn before', 'ad.sla.hours': 'Clock', 'ad.sla.business': 'business hours',
    'ad.sla.types': 'Level per ticket type', 'ad.sla.type': 'Ticket type',
    'ad.sla.classes_kept': 'Customer class overrides and callback timing are kept as they are.',
    'ad.pause.code': 'Code', 'ad.pause.en': 'English label', 'ad.pause.zh': 'Chinese label',
    'ad.cal.help': 'Hours are local time ranges such as 09:00-12:00, 13:00-18:00; empty is closed.',
    'ad.cal.timezone': 'Time zone', 'ad.cal.weekly': 'Weekly hours', 'ad.cal.closed': 'closed',
    'ad.cal.holidays': 'Public holidays (closed all day)', 'ad.cal.makeup': 'Make-up workdays (调休)',
    'ad.cal.makeup_hours': 'Hours on make-up workdays', 'ad.cal.makeup_hours_default': "Monday's hours",
    'ad.cal.special': 'Days with their own hours',
    'ad.day.mon': 'Monday', 'ad.day.tue': 'Tuesday', 'ad.day.wed': 'Wednesday', 'ad.day.thu': 'Thursday',
    'ad.day.fri': 'Friday', 'ad.day.sat': 'Saturday', 'ad.day.sun': 'Sunday',
    'ad.ivr.start': 'First node', 'ad.ivr.fallback': 'Fallback', 'ad.ivr.prompts': 'Prompts', 'ad.ivr.next': 'Then',
    'ad.ivr.schedule': 'Schedule', 'ad.ivr.open': 'When open', 'ad.ivr.closed': 'When closed',
    'ad.ivr.queue': 'Queue', 'ad.ivr.priority': 'Priority', 'ad.ivr.lookup': 'Look up', 'ad.ivr.found': 'When found',
    'ad.ivr.intent': 'Intent', 'ad.ivr.number': 'Number', 'ad.ivr.timeout': 'Timeout (s)',
    'ad.ivr.on_invalid': 'After wrong keys', 'ad.ivr.on_timeout': 'After no key',
    'ad.ivr.same_language': 'same language', 'ad.ivr.no_intent': 'no intent', 'ad.ivr.add_choice': 'Add key',
    'ad.ivr.add_node': 'Add node', 'ad.ivr.node_name': 'Node name', 'ad.ivr.missing': '→ {name} (no such node)',
    'ad.ivr.see_above': '→ {name} (see above)', 'ad.ivr.unreachable': 'Not reachable from the first node',
    'ad.ivr.prompts_title': 'Prompt texts', 'ad.ivr.prompt_name': 'Prompt',
    'ad.sites.sites': 'Service sites', 'ad.sites.technicians': 'Technicians', 'ad.sites.name': 'Name',
    'ad.sites.regions': 'Regions (comma separated)', 'ad.sites.skills': 'Skills (comma separated)',
    'ad.sites.phone': 'Phone', 'ad.sites.no_site': 'no site', 'ad.sites.active': 'active',
    'ad.sites.inactive': 'inactive', 'ad.sites.deactivate': 'Deactivate',
  },

  'zh-CN': {
    'app.name': 'CTI 坐席台',
    'lang.label': '语言',

    'login.page_title': '登录 — CTI 坐席台',
    'login.title': '坐席登录',
    'login.subtitle': '请使用您的呼叫中心账号登录。',
    'login.username': '用户名',
    'login.password': '密码',
    'login.submit': '登录',
    'login.submitting': '正在登录…',
    'login.error.missing': '请输入用户名和密码。',
    'login.error.credentials': '用户名或密码错误。',
    'login.error.rate_limited': '登录尝试过于频繁，请稍后再试。',
    'login.error.server': '服务器无法完成登录（错误 {status}）。',
    'login.error.network': '无法连接服务器，请检查网络。',
    'login.footer': '来电、客户与工单，一屏处理。',

    'desk.page_title': '坐席工作台 — CTI 坐席台',
    'desk.page_title_ringing': '☎ {caller} — CTI 坐席台',
    'header.extension': '分机 {ext}',
    'header.no_extension': '无分机',
    'header.queues': '队列',
    'header.no_queues': '无',

    'state.logged_out': '未签入',
    'state.available': '空闲',
    'state.ringing': '振铃中',
    'state.on_call': '通话中',
    'state.paused': '暂停',
    'state.paused_reason': '暂停：{reason}',

    'ws.connecting': '正在连接…',
    'ws.connected': '已连接',
    'ws.reconnecting': '正在重新连接…',

    'queue.login': '签入队列',
    'queue.logout': '签出队列',
    'signout': '退出登录',

    'error.request': '请求失败（错误 {status}）。',
    'error.network': '无法连接服务器。',
    'error.dismiss': '关闭提示',

    'idle.title': '等待来电',
    'idle.hint': '来电时将自动弹出来电者的客户资料与历史记录。',
    'idle.hint_logged_out': '您尚未签入任何队列。点击“签入队列”开始接听来电。',

    'pop.status.ringing': '来电振铃',
    'pop.status.answered': '已接通',
    'pop.status.answered_other': '已由其他坐席接听',
    'pop.status.answered_other_named': '已由其他坐席接听（{agent}）',
    'pop.status.ended': '通话已结束',
    'pop.status.ended_outcome': '通话已结束 — {outcome}',
    'pop.unknown_name': '未知来电者',
    'pop.withheld': '号码未显示',
    'pop.normalized': '标准号码：{number}',
    'pop.queue': '队列',
    'pop.no_queue': '直拨',
    'pop.waiting': '等待时长',
    'pop.called': '呼入号码',
    'pop.ringing_at': '振铃时间',
    'pop.ivr': '语音导航选择',
    'pop.ivr_none': '来电未经过语音导航菜单。',
    'pop.ivr_step': '{node}：{digits}',
    'pop.ivr_no_digits': '{node}',
    'pop.dismiss': '关闭',

    'pop.customer': '客户资料',
    'pop.provisional_notice': '未知来电者 — 已创建临时客户记录 #{id}',
    'pop.provisional_hint': '请在通话中核实来电者信息并完善客户记录。',
    'pop.no_customer': '未知来电者 — 无客户记录',
    'pop.provisional_badge': '临时',
    'customer.unnamed': '未命名客户',
    'customer.id': '记录编号',
    'customer.kind': '类型',
    'customer.phones': '电话号码',
    'customer.no_phones': '无电话号码',
    'customer.notes': '备注',
    'customer.no_notes': '无备注',
    'customer.created': '建档时间',
    'customer.kind.person': '个人',
    'customer.kind.individual': '个人',
    'customer.kind.company': '企业',
    'customer.kind.business': '企业',
    'customer.kind.unknown': '未知',
    'phone.kind.mobile': '手机',
    'phone.kind.landline': '固话',
    'phone.kind.fixed': '固话',
    'phone.kind.work': '工作',
    'phone.kind.home': '住宅',
    'phone.kind.fax': '传真',
    'phone.kind.other': '其他',

    'pop.history': '通话历史',
    'pop.history_count': '{n} 次通话',
    'history.when': '时间',
    'history.direction': '方向',
    'history.queue': '队列',
    'history.agent': '坐席',
    'history.outcome': '结果',
    'history.duration': '时长',
    'history.empty': '该号码无历史通话。',
    'direction.inbound': '呼入',
    'direction.outbound': '呼出',
    'direction.internal': '内部',
    'outcome.answered': '已接听',
    'outcome.completed': '已完成',
    'outcome.abandoned': '放弃',
    'outcome.missed': '未接',
    'outcome.no_answer': '无人接听',
    'outcome.busy': '忙线',
    'outcome.failed': '失败',
    'outcome.timeout': '超时',
    'outcome.voicemail': '语音留言',
    'outcome.transferred': '已转接',
    'outcome.callback': '请求回电',
    'outcome.ivr_hangup': '导航中挂断',
    'outcome.hangup': '已挂断',

    'pop.tickets': '未结工单',
    'pop.tickets_count': '{n} 个未结',
    'tickets.empty': '无未结工单。',
    'ticket.created': '创建于 {when}',
    'ticket.type.complaint': '投诉',
    'ticket.type.repair': '报修',
    'ticket.type.inquiry': '咨询',
    'ticket.type.question': '咨询',
    'ticket.type.callback': '回电',
    'ticket.type.incident': '故障',
    'ticket.type.request': '需求',
    'ticket.type.billing': '账务',
    'ticket.state.new': '新建',
    'ticket.state.open': '待处理',
    'ticket.state.in_progress': '处理中',
    'ticket.state.pending': '挂起',
    'ticket.state.waiting': '等待中',
    'ticket.state.assigned': '已分派',
    'ticket.state.resolved': '已解决',
    'ticket.state.closed': '已关闭',

    'ticket.type.install': '安装',
    'ticket.type.consultation': '咨询',
    'ticket.type.suggestion': '建议',
    'priority.low': '低',
    'priority.normal': '普通',
    'priority.high': '高',
    'priority.urgent': '紧急',
    'work.new_ticket': '新建工单',
    'work.type': '类型',
    'work.priority': '优先级',
    'work.description': '描述',
    'work.product': '产品型号',
    'work.address': '地址',
    'work.submit': '创建工单',
    'work.submitting': '正在创建…',
    'work.created': '工单 #{id} 已创建',
    'work.prefill_caller': '来电号码：{number}',
    'work.prefill_ivr': 'IVR 选择：{ivr}',
    'work.no_customer': '此来电没有客户记录，无法在此创建工单。',
    'work.attach': '关联此来电',
    'work.attached': '已关联来电',
    'work.error_detail': '请求失败（错误 {status}）：{detail}',
    'mywork.title': '我的工作',
    'mywork.tickets': '我的未结工单',
    'mywork.tickets_empty': '暂无分派给您的未结工单。',
    'mywork.callbacks': '我的回访',
    'mywork.callbacks_empty': '暂无待回访。',
    'mywork.loading': '加载中…',
    'mywork.customer': '客户 #{id}',
    'callback.due': '截止 {when}',
    'callback.overdue': '已逾期',
    'callback.outcome': '结果',
    'callback.outcome_choose': '请选择…',
    'callback.outcome.reached': '已联系上',
    'callback.outcome.no_answer': '无人接听',
    'callback.outcome.busy': '占线',
    'callback.outcome.wrong_number': '号码错误',
    'callback.outcome.refused': '拒绝',
    'callback.satisfaction': '满意度（1–5）',
    'callback.satisfaction_choose': '—',
    'callback.notes': '备注',
    'callback.save': '保存结果',
    'callback.dial': '呼叫',
    'callback.dialing': '正在呼叫——您的话机会先振铃',
    'callback.error.outcome': '请选择结果。',
    'callback.error.satisfaction': '联系上客户时必须填写满意度（1–5）。',

    // supervisor: wallboard and reports (issue 6)
    'wb.title': '监控大屏', 'wb.reports': '报表', 'wb.wallboard': '监控大屏',
    'wb.col.agent': '坐席', 'wb.col.state': '状态', 'wb.col.time': '持续时间',
    'wb.col.queues': '队列', 'wb.col.actions': '操作',
    'wb.q.waiting': '排队中', 'wb.q.longest': '最长等待', 'wb.q.sl': '服务水平',
    'wb.q.available': '空闲', 'wb.q.on_call': '通话中', 'wb.q.paused': '小休',
    'wb.q.logged_in': '已签入', 'wb.q.answered': '已接听', 'wb.q.abandoned': '放弃',
    'wb.q.asa': '平均应答速度', 'wb.q.aht': '平均处理时长',
    'wb.state.logged_out': '已签出', 'wb.state.available': '空闲', 'wb.state.ringing': '振铃',
    'wb.state.on_call': '通话中', 'wb.state.on_hold': '保持', 'wb.state.wrap_up': '话后处理',
    'wb.state.paused': '小休', 'wb.state.unavailable': '话机不可用',
    'wb.pause': '小休', 'wb.unpause': '恢复', 'wb.pause_reason': '小休原因', 'wb.logout': '签出',
    'wb.listen': '监听', 'wb.whisper': '密语', 'wb.barge': '强插',
    'wb.ws.connecting': '连接中…', 'wb.ws.connected': '实时', 'wb.ws.resyncing': '同步中…',
    'wb.ws.closed': '已断开', 'wb.error': '操作失败。',
    'wb.forbidden': '只有班长可以查看监控大屏。', 'wb.sla_breached': '工单 #{id} 已超出 SLA。',
    'rp.title': '报表', 'rp.from': '开始', 'rp.to': '结束', 'rp.interval': '时间粒度', 'rp.run': '查询',
    'rp.csv': 'CSV', 'rp.xlsx': 'Excel', 'rp.calls': '话务量', 'rp.queues': '队列服务质量',
    'rp.workload': '坐席工作量', 'rp.business': '业务量', 'rp.formulas': '各指标的计算方法',
    'rp.repairs_by_fault': '维修工单按故障统计', 'rp.fault_class': '故障类别',
    'rp.fault_phenomenon': '故障现象', 'rp.count': '工单数', 'rp.unclassified': '（未分类）',
    'rp.empty': '该时段没有数据。',
    'rp.satisfaction': '满意度评价（平均分，1-5分）', 'rp.low_scores': '{n}个低分',
    'rp.no_surveys': '该时段没有满意度评价。',
    'monitor.notice.listen': '班长正在监听本通话。',
    'monitor.notice.whisper': '班长正在对您密语指导（客户听不到）。',
    'monitor.notice.barge': '班长已加入本通话。',
    'rec.title': '录音', 'rec.play': '播放', 'rec.show': '录音', 'rec.none': '没有录音。',
    'rec.start': '开始录音', 'rec.stop': '停止录音', 'rec.pause': '暂停录音', 'rec.resume': '继续录音',
    'rec.state.off': '未录音', 'rec.state.recording': '● 录音中', 'rec.state.paused': '录音已暂停',
    'rec.kind.full': '全程录音', 'rec.kind.on_demand': '按需录音', 'rec.kind.voicemail': '留言',
    'rec.status.recording': '仍在录音', 'rec.status.pending': '正在保存…', 'rec.status.stored': '已保存',
    'rec.status.failed': '录音失败', 'rec.status.missing': '文件丢失', 'rec.status.purged': '已按保留期限删除',
    'rec.error.network': '无法连接服务器，请检查网络。',
    'rec.error.generic': '服务器拒绝了请求（错误 {status}）。',
    'rec.page_title': '录音查询 — CTI 坐席台', 'rec.search': '查询', 'rec.agent': '坐席', 'rec.from': '开始时间',
    'rec.to': '结束时间', 'rec.number': '号码（完整或部分）', 'rec.text': '描述或标签', 'rec.kind': '类型',
    'rec.any': '全部', 'rec.ticket': '工单号', 'rec.min_duration': '最短秒数', 'rec.max_duration': '最长秒数',
    'rec.results': '显示 {n} 条', 'rec.more': '更多', 'rec.col.when': '开始', 'rec.col.agent': '坐席',
    'rec.col.caller': '主叫', 'rec.col.called': '被叫', 'rec.col.duration': '时长', 'rec.col.kind': '类型',
    'rec.col.status': '状态', 'rec.back': '返回坐席台',
    'sp.title': '软电话',
    'sp.extension': '分机 {ext}',
    'sp.reg.off': '未启用',
    'sp.reg.connecting': '正在连接…',
    'sp.reg.registered': '已注册',
    'sp.reg.unregistered': '未注册',
    'sp.reg.reconnecting': '连接中断，正在重连…',
    'sp.reg.failed': '无法连接',
    'sp.hint.cert_before': '浏览器尚未信任电话服务器的证书：请打开 ',
    'sp.hint.cert_after': ' 一次以信任沙箱证书，之后软电话会自动重连。',
    'sp.hint.register': '注册被拒绝：{cause}。',
    'sp.idle': '空闲',
    'sp.unknown_caller': '未知来电',
    'sp.call.ringing': '来电振铃',
    'sp.call.connecting': '正在接通…',
    'sp.call.active': '通话中',
    'sp.call.held': '保持中',
    'sp.call.ended': '通话已结束',
    'sp.call.missed': '未接来电',
    'sp.answer': '接听',
    'sp.reject': '拒接',
    'sp.hangup': '挂断',
    'sp.mute': '静音',
    'sp.unmute': '取消静音',
    'sp.hold': '保持',
    'sp.unhold': '恢复通话',
    'sp.mic_on': '麦克风已开启',
    'sp.mic_off': '麦克风已静音',
    'sp.dtmf': '拨号盘',
    'sp.missed': '未接来电（{n}）',
    'sp.missed_clear': '清除',
    'sp.sound_off': '点击页面任意处即可听到铃声',
    'sp.cause.no_mic': '无法使用麦克风：请允许本网站使用麦克风',
    'sp.cause.connection': '与电话服务器的连接已中断',
    'sp.cause.rtp_timeout': '未收到电话服务器的音频',
    'sp.cause.media': '浏览器与电话服务器没有共同支持的音频格式',
    'value.none': '—',
    // transfer (issue 11, transfer.js)
    'xfer.title': '转接',
    'xfer.mode': '方式',
    'xfer.blind': '盲转（直接转出）',
    'xfer.attended': '咨询转接（先沟通再转）',
    'xfer.target_kind': '转给',
    'xfer.to_expert': '专家或坐席',
    'xfer.to_queue': '队列',
    'xfer.expert': '用户名',
    'xfer.expert_placeholder': '例如 erin',
    'xfer.queue': '队列',
    'xfer.notes': '给下一位坐席的备注',
    'xfer.notes_placeholder': '来电需求、已尝试的处理',
    'xfer.submit': '转接来电',
    'xfer.sending': '正在转接…',
    'xfer.requested': '已发起转接。',
    'xfer.consulting': '正在呼叫对方：沟通后挂机即可将来电转过去。',
    'xfer.done': '来电已转接给 {target}。',
    'xfer.failed': '转接失败（错误 {status}）：{detail}',
    'xfer.need_target': '请输入要转接的用户名。',
    'xfer.consult_with': '正在与 {target} 沟通，来电保持中。',
    'xfer.threeway': '与 {other} 及来电方三方通话中。挂机后由对方继续接待。',
    'xfer.btn.threeway': '加入来电方（三方通话）',
    'xfer.btn.complete': '立即转出',
    'xfer.btn.cancel': '回到来电',
    'xfer.joining': '正在加入来电方…',
    'xfer.completing': '正在转出来电…',
    'xfer.cancelled': '已取消转接，您已回到来电。',
    'xfer.role.expert': '专家',
    'xfer.role.agent': '坐席',
    'xfer.handoff_title': '由 {agent} 转来',
    'xfer.no_notes': '无备注。',
    'kb.title': '知识库',
    'kb.placeholder': '搜索知识，例如 滚筒不转 或 E21',
    'kb.search': '搜索',
    'kb.searching': '正在搜索…',
    'kb.none': '没有找到相关文章。',
    'kb.failed': '知识库暂时无法响应（错误 {status}）：{detail}',
    'kb.suggested': '本次来电推荐',
    'kb.close': '关闭',
    'kb.attach': '关联到工单',
    'kb.ticket_option': '#{id} {type}：{description}',
    'kb.attached': '已关联到工单 #{ticket}。',
    'kb.attach_failed': '关联失败（错误 {status}）：{detail}',
    // 弹屏中的目录：话术、故障选择（catalog-desk.js，issue 14）
    'script.title': '话术：{type}', 'script.opening': '开场白', 'script.questions': '询问',
    'script.closing': '结束语', 'script.none': '该工单类型暂无话术。',
    'script.loading': '正在加载话术…', 'script.failed': '话术加载失败（错误 {status}）。',
    'work.fault_class': '故障类别', 'work.fault_phenomenon': '故障现象', 'work.fault_choose': '— 请选择 —',
    'work.fault_causes': '可能原因与处理方法', 'work.fault_loading': '正在加载故障分类…',
    'work.fault_unavailable': '故障分类加载失败（错误 {status}）。',
    // /admin/catalog（catalog-admin.js，issue 14）
    'cat.title': '产品与故障', 'cat.back': '系统管理', 'cat.products': '产品目录',
    'cat.categories': '产品类别', 'cat.models': '产品型号', 'cat.faults': '故障分类',
    'cat.faults_hint': '故障类别 → 故障现象 → 可能原因与处理方法。代码不可修改，名称可以修改。不再使用请停用，不要删除。',
    'cat.add_category': '新增类别', 'cat.add_model': '新增型号', 'cat.add_class': '新增故障类别',
    'cat.add_phenomenon': '+ 故障现象', 'cat.add_cause': '+ 原因', 'cat.edit': '编辑', 'cat.deactivate': '停用',
    'cat.activate': '启用', 'cat.active': '启用中', 'cat.inactive': '已停用', 'cat.save': '保存',
    'cat.cancel': '取消', 'cat.saved': '已保存 {code}。', 'cat.deactivated': '{code} 已停用。',
    'cat.activated': '{code} 已启用。', 'cat.all_products': '所有产品',
    'cat.field.code': '代码', 'cat.field.name_zh': '名称（中文）', 'cat.field.name_en': '名称（English）',
    'cat.field.category_code': '产品类别', 'cat.field.class_code': '故障类别',
    'cat.field.phenomenon_code': '故障现象', 'cat.field.remedy_zh': '处理方法（中文）',
    'cat.field.remedy_en': '处理方法（English）', 'cat.field.sort': '排序',
    // /kb/editor（kb-editor.js，issue 14）
    'kbe.title': '知识库编辑', 'kbe.forbidden': '只有管理员或专家可以编辑知识库。',
    'kbe.articles': '文章', 'kbe.new': '新建文章', 'kbe.editing': '文章 #{id}', 'kbe.version': '第 {version} 版',
    'kbe.state.draft': '草稿', 'kbe.state.published': '已发布',
    'kbe.field.title': '标题', 'kbe.field.body': '正文（Markdown）', 'kbe.field.products': '产品型号（逗号分隔）',
    'kbe.field.fault_codes': '故障代码（逗号分隔）', 'kbe.field.tags': '标签（逗号分隔）',
    'kbe.preview': '预览', 'kbe.show_preview': '预览', 'kbe.save': '保存', 'kbe.publish': '发布',
    'kbe.unpublish': '撤回为草稿', 'kbe.history': '版本历史', 'kbe.show': '查看',
    'kbe.saved': '已保存为第 {version} 版。', 'kbe.published': '已发布（第 {version} 版）。',
    'kbe.unpublished': '已撤回为草稿（第 {version} 版）。', 'kbe.reloaded': '已加载对方的版本。',
    'kbe.conflict': '您编辑期间，其他人保存了这篇文章。',
    'kbe.load_theirs': '加载对方的版本（放弃我的修改）', 'kbe.overwrite': '用我的内容覆盖对方的',
    'kbe.version_line': '第 {version} 版 · {state} · {editor} · {when}',
    'kbs.title': '按工单类型的话术', 'kbs.opening': '开场白', 'kbs.questions': '询问的问题（每行一个）',
    'kbs.closing': '结束语', 'kbs.new': '尚未编写',
    // 系统管理（admin.html，issue 14）
    'ad.title': '系统管理', 'ad.nav.sites': '服务网点与工程师', 'ad.nav.sla': '服务等级（SLA）',
    'ad.nav.pause': '小休原因', 'ad.nav.calendar': '工作日历与节假日', 'ad.nav.ivr': 'IVR 语音导航',
    'ad.nav.catalog': '产品与故障', 'ad.nav.kb': '知识库编辑',
    'ad.forbidden': '只有管理员可以修改基础数据。', 'ad.network': '无法连接服务器。',
    'ad.failed': '服务器拒绝了请求（错误 {status}）。',
    'ad.meta.file': '版本 {version}：随系统发布的配置文件（尚未在浏览器中修改）。',
    'ad.meta.db': '版本 {version}，由 {who} 于 {at} 保存。',
    'ad.save': '保存', 'ad.saving': '正在保存…', 'ad.saved': '已保存为版本 {version}，立即生效。',
    'ad.not_saved': '未保存：{count} 个问题，已标在对应字段旁。', 'ad.valid': '未发现问题。',
    'ad.stale': '请刷新页面后重新修改。', 'ad.check': '检查',
    'ad.comment': '修改说明（可选）', 'ad.show_history': '历史版本', 'ad.history': '已保存的版本',
    'ad.history.none': '尚未在浏览器中保存过。', 'ad.restore': '恢复', 'ad.in_force': '当前生效',
    'ad.add': '添加', 'ad.remove': '删除', 'ad.x': '×',
    'ad.sla.help': '时长按工作时间计算：2h、30m、1h30m、1d（一个工作日）。预警：比例（0.25）或时长。',
    'ad.sla.level': '等级', 'ad.sla.respond': '响应时限', 'ad.sla.resolve': '解决时限',
    'ad.sla.warn': '提前预警', 'ad.sla.hours': '计时方式', 'ad.sla.business': '工作时间',
    'ad.sla.types': '各工单类型的等级', 'ad.sla.type': '工单类型',
    'ad.sla.classes_kept': '客户等级的覆盖规则和回访时间保持不变。',
    'ad.pause.code': '代码', 'ad.pause.en': '英文名称', 'ad.pause.zh': '中文名称',
    'ad.cal.help': '营业时间为本地时间段，如 09:00-12:00, 13:00-18:00；留空表示休息。',
    'ad.cal.timezone': '时区', 'ad.cal.weekly': '每周营业时间', 'ad.cal.closed': '休息',
    'ad.cal.holidays': '法定节假日（全天休息）', 'ad.cal.makeup': '调休上班日',
    'ad.cal.makeup_hours': '调休日营业时间', 'ad.cal.makeup_hours_default': '同周一',
    'ad.cal.special': '特殊营业日',
    'ad.day.mon': '周一', 'ad.day.tue': '周二', 'ad.day.wed': '周三', 'ad.day.thu': '周四',
    'ad.day.fri': '周五', 'ad.day.sat': '周六', 'ad.day.sun': '周日',
    'ad.ivr.start': '起始节点', 'ad.ivr.fallback': '兜底节点', 'ad.ivr.prompts': '提示音', 'ad.ivr.next': '然后',
    'ad.ivr.schedule': '时间表', 'ad.ivr.open': '营业时', 'ad.ivr.closed': '非营业时',
    'ad.ivr.queue': '队列', 'ad.ivr.priority': '优先级', 'ad.ivr.lookup': '查询', 'ad.ivr.found': '查到后',
    'ad.ivr.intent': '意图', 'ad.ivr.number': '号码', 'ad.ivr.timeout': '超时（秒）',
    'ad.ivr.on_invalid': '按键错误后', 'ad.ivr.on_timeout': '无按键后',
    'ad.ivr.same_language': '语言不变', 'ad.ivr.no_intent': '无意图', 'ad.ivr.add_choice': '添加按键',
    'ad.ivr.add_node': '添加节点', 'ad.ivr.node_name': '节点名称', 'ad.ivr.missing': '→ {name}（节点不存在）',
    'ad.ivr.see_above': '→ {name}（见上文）', 'ad.ivr.unreachable': '从起始节点无法到达',
    'ad.ivr.prompts_title': '提示音文本', 'ad.ivr.prompt_name': '提示音',
    'ad.sites.sites': '服务网点', 'ad.sites.technicians': '维修工程师', 'ad.sites.name': '名称',
    'ad.sites.regions': '服务区域（逗号分隔）', 'ad.sites.skills': '技能（逗号分隔）',
    'ad.sites.phone': '电话', 'ad.sites.no_site': '无网点', 'ad.sites.active': '启用',
    'ad.sites.inactive': '停用', 'ad.sites.deactivate': '停用',
  },
};

const listeners = new Set();
let current = detectLang();

function storedLang() {
  try {
    const v = window.localStorage.getItem(LANG_STORAGE_KEY);
    return v && Object.hasOwn(DICT, v) ? v : null;
  } catch (_e) {
    return null; // storage disabled
  }
}

export function detectLang() {
  const stored = storedLang();
  if (stored) return stored;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return String(nav).toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function getLang() {
  return current;
}

/** Translate `key`, substituting {name} placeholders from `params`. */
export function t(key, params) {
  const table = DICT[current] || DICT.en;
  let s = Object.hasOwn(table, key) ? table[key] : (Object.hasOwn(DICT.en, key) ? DICT.en[key] : key);
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (
      Object.hasOwn(params, name) && params[name] !== null && params[name] !== undefined
        ? String(params[name]) : m));
  }
  return s;
}

/** Label for an enumerated server value (state, outcome...); the raw value if unknown. */
export function tv(prefix, value) {
  if (value === null || value === undefined || value === '') return t('value.none');
  const key = `${prefix}.${value}`;
  const table = DICT[current] || DICT.en;
  if (Object.hasOwn(table, key) || Object.hasOwn(DICT.en, key)) return t(key);
  return String(value).replace(/_/g, ' ');
}

export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  }
  document.documentElement.lang = current;
}

export function setLang(lang) {
  if (!Object.hasOwn(DICT, lang)) lang = 'en';
  current = lang;
  try {
    window.localStorage.setItem(LANG_STORAGE_KEY, lang);
  } catch (_e) { /* storage disabled: the choice lasts for this page only */ }
  applyTranslations(document);
  for (const select of document.querySelectorAll('select[data-lang-select]')) select.value = lang;
  for (const cb of listeners) cb(lang);
}

export function onLangChange(cb) {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

/** Fill a <select> with the languages and make it switch the page language. */
export function bindLangSelect(select) {
  select.replaceChildren();
  for (const { code, label } of LANGS) {
    const opt = document.createElement('option');
    opt.value = code;
    opt.textContent = label;
    opt.lang = code;
    select.appendChild(opt);
  }
  select.setAttribute('data-lang-select', '');
  select.value = current;
  select.addEventListener('change', () => setLang(select.value));
}

// ---- locale-aware formatting -------------------------------------------

function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtDateTime(value) {
  const d = toDate(value);
  if (!d) return t('value.none');
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function fmtDate(value) {
  const d = toDate(value);
  if (!d) return t('value.none');
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium' }).format(d);
}

export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return t('value.none');
  return new Intl.DateTimeFormat(current, { timeStyle: 'medium' }).format(d);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || seconds === '' || !Number.isFinite(Number(seconds))) {
    return t('value.none');
  }
  let total = Math.max(0, Math.round(Number(seconds)));
  const hours = Math.floor(total / 3600);
  total -= hours * 3600;
  const minutes = Math.floor(total / 60);
  const secs = total - minutes * 60;
  const parts = {};
  if (hours) parts.hours = hours;
  if (hours || minutes) parts.minutes = minutes;
  parts.seconds = secs;
  if (typeof Intl.DurationFormat === 'function') {
    try {
      return new Intl.DurationFormat(current, { style: 'short' }).format(parts);
    } catch (_e) { /* fall through */ }
  }
  const unit = (u, n) => new Intl.NumberFormat(current, { style: 'unit', unit: u, unitDisplay: 'short' }).format(n);
  const out = [];
  if (parts.hours !== undefined) out.push(unit('hour', parts.hours));
  if (parts.minutes !== undefined) out.push(unit('minute', parts.minutes));
  out.push(unit('second', parts.seconds));
  return out.join(current.startsWith('zh') ? '' : ' ');
}

document.documentElement.lang = current;
