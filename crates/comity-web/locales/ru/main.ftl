# Панель Comity — русский.

## Рамка
nav-label = Главное меню
nav-consultations = Консультации
nav-liaisons = Заявления о связи
nav-federation = Федерация
language-menu = Язык
login = Войти
logout = Выйти
footer = Узел Comity организации { $org } · версия { $version }
back-home = Вернуться к консультациям

## Языки
language-ar = арабский
language-en = английский
language-es = испанский
language-fr = французский
language-ru = русский
language-zh = китайский
doc-fallback = Нет на вашем языке: показано на языке публикации ({ $language }).

## Роли
role-viewer = читатель
role-editor = редактор
role-approver = утверждающий
role-liaison-manager = менеджер связей
role-admin = администратор

## Вход
login-title = Вход
login-username = Имя учётной записи
login-password = Пароль
login-failed = Неверное имя учётной записи или пароль.
login-too-many = Слишком много неудачных попыток. Подождите несколько минут и попробуйте снова.

## Ошибки
error-title = Произошла ошибка
error-title-not-found = Не найдено
error-title-forbidden = Не разрешено
error-title-bad-request = Так сделать нельзя
error-title-conflict = Сейчас это невозможно
error-csrf = Срок действия формы истёк, или она отправлена не с этого сайта. Вернитесь, обновите страницу и попробуйте снова.
error-form = Не удалось прочитать форму: { $detail }
error-role = Для этого нужна роль «{ $role }» или выше.
error-login-needed = Войдите, чтобы увидеть эту страницу.
error-not-found = По этому адресу здесь ничего не хранится.
error-not-own = Здесь можно пересматривать только консультации этой организации.

## Общие слова
yes = да
no = нет
none = Пока нет.
untitled = (без названия)
restricted = Ограниченный доступ
restricted-note = Это заявление адресовано только другим организациям: здесь хранится лишь его подписанный заголовок.
overdue = просрочено
late = с опозданием
cc = Копия
unchanged = (без изменений)
this-node = этот узел

## Столбцы
col-organisation = Организация
col-stakeholder-group = Группа заинтересованных сторон
col-region = Регион
col-reciprocal = Взаимно
col-connected = Подключён
col-dialled = Кто подключился
dialled-us = мы
dialled-them = они (исходящее)
dialled-both = обе стороны
dialled-none = —
reach-reachable = доступен
reach-dial-out-only = только исходящие
reach-unconfirmed = ожидает подключений; ни один партнёр ещё не подключился
col-lag = Отставание
col-last-error = Последняя ошибка
col-checkpoint = Контрольная точка
checkpoint-none = пока нет
checkpoint-size = размер {$size}
checkpoint-cosigned = подписано также {$org},
col-title = Название
col-topics = Темы
col-closes = Закрывается
col-status = Статус
col-responses = Ответы
col-response = Ответ
col-revision = Редакция
col-published = Опубликовано
col-entry = Запись
col-from = От
col-to = Кому
col-purpose = Цель
col-deadline = Срок
col-state = Состояние

## Федерация
federation-title = Федерация
federation-intro = Все организации, за которыми следит этот узел, как их описывает подписанный профиль, и состояние репликации с каждой из них.
lag-none = синхронизировано
lag-entries = { $origin }: отставание на { $count } записей
last-contact = последний контакт:

## Группы заинтересованных сторон
sg-government = Правительство
sg-intergovernmental = Межправительственная организация
sg-private-sector = Частный сектор
sg-civil-society = Гражданское общество
sg-technical-academic = Техническое и академическое сообщество
sg-unspecified = Не указано

## Статус консультаций
status-draft = Черновик
status-upcoming = Ещё не открыта
status-open = Открыта
status-reply_period = Период ответов на комментарии
status-closed = Закрыта
status-withdrawn = Отозвана
status-report_published = Отчёт опубликован

## Консультации
consultations-title = Консультации
consultations-none = Ни одна консультация не соответствует этим фильтрам.
consultation-new = Опубликовать консультацию
filter-org = Организация
filter-topic = Тема
filter-language = Язык документа
filter-status = Статус
filter-any = Любая
filter-all = Все
filter-apply = Применить
field-title = Название
field-language = Язык
field-summary = Краткое содержание
field-opens = Открывается
field-closes = Закрывается
field-reply-closes = Конец периода ответов
field-topics = Темы (через запятую)
field-body = Текст
field-link = Веб-страница
field-questions = Руководящие вопросы (по одному в строке)
field-contact = Контакт
field-contact-name = Имя контактного лица
field-contact-email = Электронная почта контактного лица
field-on-behalf-of = От имени
field-note = Примечание
field-identifiers = Другие номера документов
field-restricted = Ограниченный доступ: текст получают только адресаты
dates-note = Даты понимаются как «в любой точке Земли»: консультация, закрывающаяся в определённый день, открыта, пока этот день не закончится повсюду.
publish = Опубликовать
attachments = Вложения
report = Итоговый отчёт
revisions = Редакции
responses = Ответы
participation = Участие
respond = Ответить
revise = Пересмотреть
revise-note = Оставьте поле пустым, чтобы не менять его. Каждая редакция — новая подписанная запись; прежние остаются в журнале.

## Заявления о связи
liaisons-title = Заявления о связи
liaison-new = Подготовить заявление о связи
tab-inbox = Входящие
tab-outbox = Исходящие
tab-awaiting = Ожидают действий
tab-overdue = Просроченные
tab-drafts = Черновики
purpose-action = Для принятия мер
purpose-comment = Для комментариев
purpose-information = Для информации
purpose-in_response = В ответ
purpose-unspecified = Не указано
state-awaiting = Ожидается
state-received = Получено
state-accepted_for_action = Принято к исполнению
state-reply_coming = Готовится ответ
state-action_taken = Меры приняты
draft-draft = Черновик
draft-approved = Утверждено: { $by }
draft-posted = Отправлено (запись { $seq })
draft-save = Сохранить черновик
approve = Утвердить
post = Отправить
recipients-note = Укажите организацию («icann»), одну из её групп («itu/itu-t/sg17») или группу из профиля партнёра; несколько — через запятую.
recipients-own-note = Чтобы задать получателю собственную цель и срок, добавьте «=»: «itu=action:2027-03-31», «icann=information».
recipients = Адресаты
receipts = Подтверждения получения
replies = Ответы
in-reply-to = В ответ на
acknowledge = Подтвердить получение
reply = Ответить
reply-note = Ответ сохраняется как черновик, адресованный отправителю; отправить его можно на вкладке «Черновики».
receipt-by-reply = ответом
reply-action-note = После отправки ответ отмечает это заявление как «меры приняты» для { $org } со ссылкой на ответ.

## Search
search-label = Поиск по документам, хранящимся здесь
search-placeholder = Поиск…
search-submit = Найти
search-title = Поиск
search-count = Найдено документов по запросу «{ $query }»: { $count }
search-none = Нет доступных вам документов с этими словами.
search-empty = Введите слова в поле поиска: консультации, ответы и заявления о связи всех источников, на любом языке.
search-kind-consultation = Консультация
search-kind-response = Ответ
search-kind-liaison = Заявление о связи

## Times and dates
time-now = только что
time-ago-minutes = { $n ->
    [one] { $n } минуту назад
    [few] { $n } минуты назад
    [many] { $n } минут назад
   *[other] { $n } минуты назад
}
time-ago-hours = { $n ->
    [one] { $n } час назад
    [few] { $n } часа назад
    [many] { $n } часов назад
   *[other] { $n } часа назад
}
time-ago-days = { $n ->
    [one] { $n } день назад
    [few] { $n } дня назад
    [many] { $n } дней назад
   *[other] { $n } дня назад
}
time-ago-months = { $n ->
    [one] { $n } месяц назад
    [few] { $n } месяца назад
    [many] { $n } месяцев назад
   *[other] { $n } месяца назад
}
time-ago-years = { $n ->
    [one] { $n } год назад
    [few] { $n } года назад
    [many] { $n } лет назад
   *[other] { $n } года назад
}
time-in-minutes = { $n ->
    [one] через { $n } минуту
    [few] через { $n } минуты
    [many] через { $n } минут
   *[other] через { $n } минуты
}
time-in-hours = { $n ->
    [one] через { $n } час
    [few] через { $n } часа
    [many] через { $n } часов
   *[other] через { $n } часа
}
time-in-days = { $n ->
    [one] через { $n } день
    [few] через { $n } дня
    [many] через { $n } дней
   *[other] через { $n } дня
}
time-in-months = { $n ->
    [one] через { $n } месяц
    [few] через { $n } месяца
    [many] через { $n } месяцев
   *[other] через { $n } месяца
}
time-in-years = { $n ->
    [one] через { $n } год
    [few] через { $n } года
    [many] через { $n } лет
   *[other] через { $n } года
}
month-1 = января
month-2 = февраля
month-3 = марта
month-4 = апреля
month-5 = мая
month-6 = июня
month-7 = июля
month-8 = августа
month-9 = сентября
month-10 = октября
month-11 = ноября
month-12 = декабря
date-day = { $day } { $month } { $year } г.
date-time = { $date }, { $time } UTC

## Pages of a list
page-info = Страница { $page } из { $pages } (всего { $total })
page-prev = Назад
page-next = Далее
