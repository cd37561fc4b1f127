# لوحة Comity — العربية.

## الإطار
nav-label = القائمة الرئيسية
nav-consultations = المشاورات
nav-liaisons = بيانات الاتصال
nav-federation = الاتحاد
language-menu = اللغة
login = تسجيل الدخول
logout = تسجيل الخروج
footer = عقدة Comity التابعة لـ { $org } · الإصدار { $version }
back-home = العودة إلى المشاورات

## اللغات
language-ar = العربية
language-en = الإنكليزية
language-es = الإسبانية
language-fr = الفرنسية
language-ru = الروسية
language-zh = الصينية
doc-fallback = غير متاح بلغتك: معروض باللغة التي نُشر بها ({ $language }).

## الأدوار
role-viewer = مطّلع
role-editor = محرّر
role-approver = معتمِد
role-liaison-manager = مدير الاتصال
role-admin = مدير

## تسجيل الدخول
login-title = تسجيل الدخول
login-username = اسم الحساب
login-password = كلمة المرور
login-failed = اسم الحساب أو كلمة المرور غير صحيحة.
login-too-many = محاولات فاشلة كثيرة جدًا. انتظر بضع دقائق ثم أعد المحاولة.

## الأخطاء
error-title = حدث خطأ
error-title-not-found = غير موجود
error-title-forbidden = غير مسموح
error-title-bad-request = لا يمكن تنفيذ ذلك كما كُتب
error-title-conflict = غير ممكن الآن
error-csrf = انتهت صلاحية هذا النموذج أو أنه لم يأتِ من هذا الموقع. ارجع وأعد تحميل الصفحة ثم حاول مرة أخرى.
error-form = تعذّرت قراءة النموذج: { $detail }
error-role = يتطلب هذا دور «{ $role }» أو أعلى.
error-login-needed = سجّل الدخول لرؤية هذه الصفحة.
error-not-found = لا يوجد شيء محفوظ هنا بهذا العنوان.
error-not-own = لا يمكن هنا تنقيح سوى مشاورات هذه المنظمة.

## كلمات شائعة
yes = نعم
no = لا
none = لا شيء حتى الآن.
untitled = (بلا عنوان)
restricted = مقيَّد
restricted-note = هذا البيان مقصور على منظمات أخرى: لا يُحفظ هنا إلا رأسه الموقَّع.
overdue = متأخر
late = متأخر
cc = نسخة
unchanged = (بلا تغيير)
this-node = هذه العقدة

## أعمدة الجداول
col-organisation = المنظمة
col-stakeholder-group = فئة أصحاب المصلحة
col-region = المنطقة
col-reciprocal = متبادل
col-connected = متصل
col-dialled = بادر بالاتصال
dialled-us = نحن
dialled-them = هم (صادر)
dialled-both = كلاهما
dialled-none = —
reach-reachable = يمكن الوصول إليه
reach-dial-out-only = اتصال صادر فقط
reach-unconfirmed = في وضع الاستماع؛ لم يتصل أي شريك بعد
col-lag = التأخر
col-last-error = آخر خطأ
col-checkpoint = نقطة التحقق
checkpoint-none = لا يوجد بعد
checkpoint-size = الحجم {$size}
checkpoint-cosigned = وقّع عليها أيضًا {$org}،
col-title = العنوان
col-topics = المواضيع
col-closes = الإغلاق
col-status = الحالة
col-responses = الردود
col-response = الرد
col-revision = التنقيح
col-published = تاريخ النشر
col-entry = القيد
col-from = من
col-to = إلى
col-purpose = الغرض
col-deadline = الموعد النهائي
col-state = الوضع

## الاتحاد
federation-title = الاتحاد
federation-intro = كل المنظمات التي تتابعها هذه العقدة، كما يصفها ملفها الموقَّع، وحالة النسخ المتماثل مع كل منها.
lag-none = محدَّث
lag-entries = { $origin }: متأخر بـ { $count } من القيود
last-contact = آخر اتصال:

## فئات أصحاب المصلحة
sg-government = حكومة
sg-intergovernmental = منظمة حكومية دولية
sg-private-sector = القطاع الخاص
sg-civil-society = المجتمع المدني
sg-technical-academic = المجتمع التقني والأكاديمي
sg-unspecified = غير محدد

## حالة المشاورات
status-draft = مسودة
status-upcoming = لم تُفتح بعد
status-open = مفتوحة
status-reply_period = فترة الردود
status-closed = مغلقة
status-withdrawn = مسحوبة
status-report_published = نُشر التقرير

## المشاورات
consultations-title = المشاورات
consultations-none = لا توجد مشاورة تطابق عوامل التصفية هذه.
consultation-new = نشر مشاورة
filter-org = المنظمة
filter-topic = الموضوع
filter-language = لغة الوثيقة
filter-status = الحالة
filter-any = أي
filter-all = الكل
filter-apply = تصفية
field-title = العنوان
field-language = اللغة
field-summary = الملخص
field-opens = الافتتاح
field-closes = الإغلاق
field-reply-closes = نهاية فترة الردود
field-topics = المواضيع (مفصولة بفواصل)
field-body = النص
field-link = صفحة الويب
field-questions = الأسئلة التوجيهية (سؤال في كل سطر)
field-contact = جهة الاتصال
field-contact-name = اسم جهة الاتصال
field-contact-email = البريد الإلكتروني لجهة الاتصال
field-on-behalf-of = بالنيابة عن
field-note = ملاحظة
field-identifiers = أرقام وثائق أخرى
field-restricted = مقيَّد: لا يتلقى النص إلا المرسَل إليهم
dates-note = تُفهم التواريخ «في أي مكان على الأرض»: تبقى المشاورة التي تُغلق في يوم ما مفتوحة حتى ينتهي ذلك اليوم في كل مكان.
publish = نشر
attachments = المرفقات
report = التقرير الموجز
revisions = التنقيحات
responses = الردود
participation = المشاركة
respond = الرد
revise = تنقيح
revise-note = اترك الحقل فارغًا لإبقائه كما هو. كل تنقيح قيد موقَّع جديد، وتبقى القيود السابقة في السجل.

## بيانات الاتصال
liaisons-title = بيانات الاتصال
liaison-new = صياغة بيان اتصال
tab-inbox = الوارد
tab-outbox = الصادر
tab-awaiting = بانتظار إجراء
tab-overdue = المتأخرة
tab-drafts = المسودات
purpose-action = لاتخاذ إجراء
purpose-comment = لإبداء التعليقات
purpose-information = للعلم
purpose-in_response = ردًا على
purpose-unspecified = غير محدد
state-awaiting = بالانتظار
state-received = وارد
state-accepted_for_action = مقبول لاتخاذ إجراء
state-reply_coming = الرد قيد الإعداد
state-action_taken = اتُّخذ الإجراء
draft-draft = مسودة
draft-approved = اعتمده { $by }
draft-posted = أُرسل (القيد { $seq })
draft-save = حفظ كمسودة
approve = اعتماد
post = إرسال
recipients-note = اكتب منظمة («icann») أو إحدى مجموعاتها («itu/itu-t/sg17») أو مجموعة يذكرها شريك؛ وافصل بين عدة جهات بفواصل.
recipients-own-note = لتحديد غرض وموعد نهائي خاصين بمستلم ما، أضفهما بعد «=»: «itu=action:2027-03-31»، «icann=information».
recipients = المرسَل إليهم
receipts = إشعارات الاستلام
replies = الردود
in-reply-to = ردًا على
acknowledge = إشعار بالاستلام
reply = رد
reply-note = يُحفظ الرد كمسودة موجهة إلى المرسِل، ويُرسل من تبويب المسودات.
receipt-by-reply = بالرد
reply-action-note = عند إرسال الرد، يُعلَّم هذا البيان «اتُّخذ الإجراء» بالنسبة إلى { $org }، مع رابط إلى الرد.

## Search
search-label = البحث في الوثائق المحفوظة هنا
search-placeholder = بحث…
search-submit = بحث
search-title = البحث
search-count = عدد الوثائق التي عُثر عليها لـ «{ $query }»: { $count }
search-none = لا توجد وثيقة يمكنك قراءتها تتضمن هذه الكلمات.
search-empty = اكتب كلمات في مربع البحث: المشاورات والردود وبيانات الاتصال من جميع المصادر، بأي لغة.
search-kind-consultation = مشاورة
search-kind-response = رد
search-kind-liaison = بيان اتصال

## Times and dates
time-now = الآن
time-ago-minutes = { $n ->
    [one] منذ دقيقة واحدة
    [two] منذ دقيقتين
    [few] منذ { $n } دقائق
   *[other] منذ { $n } دقيقة
}
time-ago-hours = { $n ->
    [one] منذ ساعة واحدة
    [two] منذ ساعتين
    [few] منذ { $n } ساعات
   *[other] منذ { $n } ساعة
}
time-ago-days = { $n ->
    [one] منذ يوم واحد
    [two] منذ يومين
    [few] منذ { $n } أيام
    [many] منذ { $n } يومًا
   *[other] منذ { $n } يوم
}
time-ago-months = { $n ->
    [one] منذ شهر واحد
    [two] منذ شهرين
    [few] منذ { $n } أشهر
    [many] منذ { $n } شهرًا
   *[other] منذ { $n } شهر
}
time-ago-years = { $n ->
    [one] منذ سنة واحدة
    [two] منذ سنتين
    [few] منذ { $n } سنوات
   *[other] منذ { $n } سنة
}
time-in-minutes = { $n ->
    [one] بعد دقيقة واحدة
    [two] بعد دقيقتين
    [few] بعد { $n } دقائق
   *[other] بعد { $n } دقيقة
}
time-in-hours = { $n ->
    [one] بعد ساعة واحدة
    [two] بعد ساعتين
    [few] بعد { $n } ساعات
   *[other] بعد { $n } ساعة
}
time-in-days = { $n ->
    [one] بعد يوم واحد
    [two] بعد يومين
    [few] بعد { $n } أيام
    [many] بعد { $n } يومًا
   *[other] بعد { $n } يوم
}
time-in-months = { $n ->
    [one] بعد شهر واحد
    [two] بعد شهرين
    [few] بعد { $n } أشهر
    [many] بعد { $n } شهرًا
   *[other] بعد { $n } شهر
}
time-in-years = { $n ->
    [one] بعد سنة واحدة
    [two] بعد سنتين
    [few] بعد { $n } سنوات
   *[other] بعد { $n } سنة
}
month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر
date-day = { $day } { $month } { $year }
date-time = { $date }، { $time } UTC

## Pages of a list
page-info = الصفحة { $page } من { $pages } ({ $total } في المجموع)
page-prev = السابقة
page-next = التالية
