; ctxpack tree-sitter query for C++.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.
; Type definitions come first, then methods (in-class or `Class::name` out of class),
; then free functions; no node is matched by two definition patterns.

; ---------------------------------------------------------------- definitions

; classes / structs / unions with a body, enums with a body
(class_specifier
  name: [(type_identifier) @name
         (template_type
           name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.class

(struct_specifier
  name: [(type_identifier) @name
         (template_type
           name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.class

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.class

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

; namespaces
(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name) @definition.module

; `using Alias = ...;`, `template <...> using Alias = ...;`
(alias_declaration
  name: (type_identifier) @name) @definition.type

; `typedef struct { ... } Name;`
(type_definition
  type: [(struct_specifier !name body: (_))
         (class_specifier !name body: (_))
         (union_specifier !name body: (_))]
  declarator: (type_identifier) @name) @definition.class

; other typedefs. NOTE: `typedef struct X {...} X;` also matches the struct pattern above
; on the same line with the same name; that struct pattern is listed first and wins.
(type_definition
  type: [(primitive_type) (sized_type_specifier) (type_identifier) (qualified_identifier)
         (template_type) (struct_specifier name: (_)) (class_specifier name: (_))
         (union_specifier name: (_)) (enum_specifier name: (_))]
  declarator: [(type_identifier) @name
               (pointer_declarator
                 declarator: (type_identifier) @name)]) @definition.type

; methods defined inside a class body (also constructors, destructors, operators)
(field_declaration_list
  (function_definition
    declarator: [(function_declarator
                   declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(field_identifier) (identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(field_identifier) (identifier) (operator_name)] @name))]) @definition.method)

; methods declared (not defined) inside a class body
(field_declaration_list
  [(field_declaration
     declarator: [(function_declarator
                    declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name)
                  (pointer_declarator
                    declarator: (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name)] @name))
                  (reference_declarator
                    (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name)] @name))])
   (declaration
     declarator: (function_declarator
       declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name))] @definition.method)

; member templates inside a class body
(field_declaration_list
  (template_declaration
    [(function_definition
       declarator: [(function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name)] @name)
                    (pointer_declarator
                      declarator: (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name)] @name))
                    (reference_declarator
                      (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name)] @name))])
     (declaration
       declarator: (function_declarator
         declarator: [(field_identifier) (identifier) (operator_name)] @name))
     (field_declaration
       declarator: (function_declarator
         declarator: [(field_identifier) (identifier) (operator_name)] @name))] @definition.method))

; out-of-class method definitions: `R Class::name(...) {...}` (also ns::Class::name)
(function_definition
  declarator: [(function_declarator
                 declarator: (qualified_identifier
                   name: [(identifier) (destructor_name) (operator_name)] @name))
               (function_declarator
                 declarator: (qualified_identifier
                   name: (qualified_identifier
                     name: [(identifier) (destructor_name) (operator_name)] @name)))
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: (qualified_identifier
                     name: [(identifier) (operator_name)] @name)))
               (reference_declarator
                 (function_declarator
                   declarator: (qualified_identifier
                     name: [(identifier) (operator_name)] @name)))]) @definition.method

; free functions at file or namespace scope, plain or template (one pattern per scope kind,
; so functions inside class bodies never match here)
(translation_unit
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

(declaration_list
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

(preproc_if
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

(preproc_ifdef
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

(preproc_else
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

(preproc_elif
  [(function_definition
     declarator: [(function_declarator
                   declarator: [(identifier) (operator_name)] @name)
                 (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name))
                 (reference_declarator
                   (function_declarator
                     declarator: [(identifier) (operator_name)] @name))]) @definition.function
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                     declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator
                     declarator: (function_declarator
                       declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator
                     (function_declarator
                       declarator: [(identifier) (operator_name)] @name))]) @definition.function)])

; prototypes at file or namespace scope
([(translation_unit
   (declaration
     declarator: [(function_declarator
                    declarator: (identifier) @name)
                  (pointer_declarator
                    declarator: (function_declarator
                      declarator: (identifier) @name))
                  (reference_declarator
                    (function_declarator
                      declarator: (identifier) @name))]) @definition.function)
  (declaration_list
   (declaration
     declarator: [(function_declarator
                    declarator: (identifier) @name)
                  (pointer_declarator
                    declarator: (function_declarator
                      declarator: (identifier) @name))
                  (reference_declarator
                    (function_declarator
                      declarator: (identifier) @name))]) @definition.function)])

; macros: object-like #define -> constant, function-like #define -> function
(preproc_def
  name: (identifier) @name) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.function

; file- or namespace-scope `const` / `constexpr` variables
([(translation_unit
   (declaration
     (type_qualifier)
     declarator: (init_declarator
       declarator: (identifier) @name)) @definition.constant)
  (declaration_list
   (declaration
     (type_qualifier)
     declarator: (init_declarator
       declarator: (identifier) @name)) @definition.constant)])

; ----------------------------------------------------------------- references

; calls: f(), obj.f(), p->f(), ns::f(), a::b::f(), f<T>(), obj.template f<T>()
(call_expression
  function: (identifier) @reference.call)

(call_expression
  function: (field_expression
    field: (field_identifier) @reference.call))

(call_expression
  function: (field_expression
    field: (dependent_name
      (template_method
        name: (field_identifier) @reference.call))))

(call_expression
  function: (template_function
    name: (identifier) @reference.call))

(call_expression
  function: (qualified_identifier
    name: [(identifier) @reference.call
           (template_function
             name: (identifier) @reference.call)
           (qualified_identifier
             name: [(identifier) @reference.call
                    (template_function
                      name: (identifier) @reference.call)])]))

; type uses: type names where a type is expected (declared names are excluded)
[
  (declaration type: (type_identifier) @reference.type)
  (field_declaration type: (type_identifier) @reference.type)
  (parameter_declaration type: (type_identifier) @reference.type)
  (optional_parameter_declaration type: (type_identifier) @reference.type)
  (function_definition type: (type_identifier) @reference.type)
  (type_descriptor type: (type_identifier) @reference.type)
  (type_definition type: (type_identifier) @reference.type)
  (base_class_clause (type_identifier) @reference.type)
  (qualified_identifier name: (type_identifier) @reference.type)
  (template_type name: (type_identifier) @reference.type)
  (new_expression type: (type_identifier) @reference.type)
  (compound_literal_expression type: (type_identifier) @reference.type)
  (struct_specifier name: (type_identifier) @reference.type !body)
  (class_specifier name: (type_identifier) @reference.type !body)
  (union_specifier name: (type_identifier) @reference.type !body)
  (enum_specifier name: (type_identifier) @reference.type !body)
]

; includes: "local.h" without quotes; <system> keeps its angle brackets (no inner node)
(preproc_include
  path: (string_literal
    (string_content) @reference.import))

(preproc_include
  path: (system_lib_string) @reference.import)
